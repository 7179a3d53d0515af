"""The long hostile-input run (issue #11): the fuzz harness of tests/fuzz over many seeds.

Every (target, argument, mutation) of the catalogue for ``--seeds`` seeds (random sizes and
values per seed), ``--random`` cases drawn at random from the catalogue, and ``--cli`` generated
JSONL files, all in child processes (a signal is a crash, a time-out a hang), with the canary
key grepped for everywhere. Prints the counts (tried, ok, clear error, crash, hang, leak,
silent, unclear), every failure, and the time of the windowed detector on 1M documents;
``--record`` appends the table to bench/RESULTS.md.

    python bench/fuzz_long.py --seeds 5 --random 5000 --cli 300
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "fuzz"), str(ROOT / "tests")]

import fuzz_cli  # noqa: E402
import fuzz_harness as F  # noqa: E402
from _common import markdown_table, record  # noqa: E402

COLUMNS = ["tried", "ok", "clear", "crash", "hang", "leak", "silent", "unclear"]


def random_specs(n: int, rng) -> list[dict]:
    catalogue = [
        (t, a, F.mutation_names(info))
        for t, (_, _, args) in F.targets().items()
        for a, info in args.items()
    ]
    out = []
    for _ in range(n):
        t, a, ms = catalogue[int(rng.integers(len(catalogue)))]
        out.append({"t": t, "a": a, "m": str(rng.choice(ms)), "s": int(rng.integers(2**32))})
    return out


def cli_specs(n: int, rng) -> list[dict]:
    kinds = sorted(fuzz_cli.LINE_KINDS)
    specs = [{"t": "cli", "flags": f, "s": 0, "env": "utf8"} for f in fuzz_cli.FLAG_CASES]
    for i in range(n):
        lines = [str(k) for k in rng.choice(kinds, int(rng.integers(0, 40)))]
        specs.append({
            "t": "cli", "lines": lines, "s": i, "env": str(rng.choice(["utf8", "latin1"])),
            "bom": bool(rng.random() < 0.2), "tok": bool(rng.random() < 0.5),
        })  # fmt: skip
    return specs


def windowed_detect_time(n_docs: int) -> tuple[float, int]:
    import tokenmark as tm

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 40, n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = rng.integers(0, 32000, int(offsets[-1])).astype(np.int32)
    wm = tm.KGW(key=F.CANARY, context_width=2)
    t0 = time.perf_counter()
    wm.detect(tm.Ragged(tokens, offsets), window=16)
    return time.perf_counter() - t0, int(offsets[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3, help="grid passes, one seed each")
    p.add_argument("--random", type=int, default=3000, help="random API cases")
    p.add_argument("--cli", type=int, default=200, help="random JSONL files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    groups = {
        "API grid": F.grid_specs(seeds=tuple(range(100, 100 + args.seeds))),
        "API random": random_specs(args.random, rng),
        "CLI files and flags": cli_specs(args.cli, rng),
    }
    rows, all_failures = [], []
    for name, specs in groups.items():
        t0 = time.perf_counter()
        results = F.run_cases(specs)
        c = F.tally(results)
        rows.append([name, *(c.get(k, 0) for k in COLUMNS), f"{time.perf_counter() - t0:.0f}"])
        all_failures += F.failures(results)
        print(rows[-1], flush=True)
    total = ["total", *(sum(r[i] for r in rows) for i in range(1, len(COLUMNS) + 1)), ""]
    table = markdown_table(["cases", *COLUMNS, "seconds"], [*rows, total])
    secs, n_tokens = windowed_detect_time(1_000_000)
    kinds = sorted({f"{r['spec']['t']}.{r['spec']['a']}" for r in all_failures if r["spec"]})
    notes = (
        f"Seed {args.seed} (random cases), grid seeds 100..{99 + args.seeds}. Failing "
        f"(target.argument): {', '.join(kinds) or 'none'}. `KGW.detect(window=16)` on 1M "
        f"documents ({n_tokens} tokens): {secs:.1f} s."
    )
    print(table)
    print(notes)
    for r in all_failures:
        print(f"{r['o']}: {r['spec']}: {r.get('why', '')}")
    if args.record:
        record("Hostile-input fuzzing (bench/fuzz_long.py)", table, notes)
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
