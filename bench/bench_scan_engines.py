"""Scan engines and start-up: the local engine against Ray Data with 1 and 2 scorer actors on the
same corpus, and how long ``import tokenmark`` and the CLI take to start.

    python bench/bench_scan_engines.py [--shards S] [--docs N] [--chars C] [--no-record]

The corpus: ``S`` JSON-lines files of ``N`` held-out Shakespeare passages each (as in
``bench_scan.py``), scanned for three watermarks (KGW, Gumbel, SynthID). Ray runs on a local
cluster of ``workers + 1`` CPUs (one left to the read and write tasks), started once per case;
the time of a case is the scan call's wall time (the cluster's start is not in it, the actors'
start is). Start-up: a fresh interpreter per run, the best of 5.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark.scan as ts  # noqa: E402
from _common import markdown_table, record  # noqa: E402
from bench_scan import WATERMARKS, make_corpus  # noqa: E402
from tokenmark import demo_model  # noqa: E402


def startup_rows() -> list[list[str]]:
    py = sys.executable
    cases = [
        ("import numpy (floor)", [py, "-c", "import numpy"]),
        ("import tokenmark", [py, "-c", "import tokenmark"]),
        ("tokenmark info", [py, "-m", "tokenmark", "info"]),
        ("tokenmark detect --help", [py, "-m", "tokenmark", "detect", "--help"]),
        ("tokenmark scan --help", [py, "-m", "tokenmark", "scan", "--help"]),
    ]
    rows = []
    for label, cmd in cases:
        best = np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            best = min(best, time.perf_counter() - t0)
        rows.append([label, f"{best:.2f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--docs", type=int, default=2000, help="documents per shard")
    ap.add_argument("--chars", type=int, default=2000, help="characters per document")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("TOKENMARK_KEY_BENCH", "bench key")
    start = startup_rows()

    import ray
    from tokenmark.scan.ray_engine import scan_ray

    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_engines_"))
    try:
        paths = []
        for s in range(args.shards):
            p = tmp / f"part-{s}.jsonl"
            make_corpus(p, args.docs, args.chars, rng)
            paths.append(str(p))
        shards = ts.expand_inputs(paths)
        wms = ts.load_watermarks([dict(v, name=k) for k, v in WATERMARKS.items()])
        tok = ts.load_tokenizer(demo_model.PATH)
        kw = dict(read_options=ts.ReadOptions(batch_size=1024), tokenizer=tok, q=0.01)
        kw.update(progress=False, log=lambda s: None)
        rows = []
        t0 = time.perf_counter()
        rep = ts.scan(shards, wms, tmp / "local", **kw)
        base = time.perf_counter() - t0
        n_docs, n_tok = rep.summary["n_docs"], rep.summary["n_tokens"]

        def row(label, wall):
            rows.append(
                [label, f"{n_docs:,}", f"{n_tok:,}", f"{wall:.2f}", f"{n_docs / wall:,.0f}",
                 f"{n_tok / wall / 1e6:.2f}M", f"{base / wall:.2f}"]
            )  # fmt: skip

        row("local (threads)", base)
        for workers in (1, 2):
            ray.init(num_cpus=workers + 1, include_dashboard=False, log_to_driver=False)
            ray.data.DataContext.get_current().enable_progress_bars = False
            t0 = time.perf_counter()
            r = scan_ray(shards, wms, tmp / f"ray{workers}", workers=workers, **kw)
            row(f"ray, {workers} actor{'s' * (workers > 1)}", time.perf_counter() - t0)
            assert r.summary["m"] == rep.summary["m"]
            ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    header = ["engine", "docs", "tokens", "wall (s)", "docs/s", "tokens/s", "local / this"]
    table = markdown_table(header, rows)
    notes = (
        f"{args.shards} JSON-lines shards x {args.docs} docs of {args.chars} chars, 3 watermarks "
        f"(KGW, Gumbel, SynthID), batch 1024; Ray 2.60 local cluster of workers + 1 CPUs, the "
        f"actors' start inside the time. Load average during the run: "
        f"{load[0]:.1f} (machine shared with other jobs: ratios are indicative only).\n\n"
        + markdown_table(["start-up (fresh interpreter)", "best of 5 (s)"], start)
    )
    if args.no_record:
        print(table + "\n\n" + notes)
    else:
        record("CPU: scan engines (local, Ray 1 -> 2 actors) and start-up", table, notes)


if __name__ == "__main__":
    main()
