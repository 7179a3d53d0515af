"""Corpus scan throughput on the CPU: text -> scores end to end, against the tokenizer alone.

    python bench/bench_scan.py [--docs N] [--chars C] [--batch-size B] [--no-record]

A JSON-lines corpus of held-out Shakespeare passages (the demo model's ``heldout.txt``, spans
drawn at random) is scanned with ``tokenmark.scan.scan`` (read, tokenize with the demo model's
``tokenizer.json`` through ``encode_batch_fast``, score, write Parquet), once with one KGW
watermark and once with three (KGW, Gumbel, SynthID), and the time is split into reading,
tokenization, scoring and writing. The baseline, measured in the same run on the same texts
already in memory: ``Tokenizer.encode_batch_fast`` alone, in the same batches. The goal of issue
16 is a scan at >= 85% of the tokenizer's own speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark.scan as ts  # noqa: E402
from _common import markdown_table, record  # noqa: E402
from tokenmark import demo_model  # noqa: E402

WATERMARKS = {
    "kgw": {"key_id": "bench", "scheme": "kgw", "context_width": 4},
    "gumbel": {"key_id": "bench", "scheme": "gumbel", "context_width": 4},
    "synthid": {"key_id": "bench", "scheme": "synthid", "layers": 30, "context_width": 4},
}


def make_corpus(path: Path, n_docs: int, chars: int, rng) -> list[str]:
    text = demo_model.heldout_text()
    starts = rng.integers(0, len(text) - chars, n_docs)
    texts = [text[s : s + chars] for s in starts]
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": t}) + "\n")
    return texts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--chars", type=int, default=2000, help="characters per document")
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--reps", type=int, default=3, help="runs per case; the median is kept")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("TOKENMARK_KEY_BENCH", "bench key")
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_scan_"))
    try:
        corpus = tmp / "corpus.jsonl"
        texts = make_corpus(corpus, args.docs, args.chars, rng)
        mb = corpus.stat().st_size / 1e6
        tok = ts.load_tokenizer(demo_model.PATH)
        bs = args.batch_size

        def timed(fn):
            """(wall seconds, CPU seconds of every thread of this process, fn's result)."""
            w0, c0 = time.perf_counter(), time.process_time()
            res = fn()
            return time.perf_counter() - w0, time.process_time() - c0, res

        def tokenizer_alone():
            for i in range(0, len(texts), bs):
                tok.encode_batch_fast(texts[i : i + bs], add_special_tokens=False)

        def encode_to_ragged() -> int:
            return sum(
                len(ts.encode(tok, texts[i : i + bs]).tokens) for i in range(0, len(texts), bs)
            )

        def scan_once(case: list[str]):
            wms = ts.load_watermarks([WATERMARKS[c] for c in case])
            out = tmp / "out"
            shutil.rmtree(out, ignore_errors=True)
            rep = ts.scan(
                ts.expand_inputs([str(corpus)]),
                wms,
                out,
                read_options=ts.ReadOptions(batch_size=bs),
                tokenizer=tok,
                progress=False,
                log=lambda s: None,
            )
            assert rep.summary["n_tokens"] == n_tokens, "scan and encode disagree"
            return rep.timings

        cases = (["kgw"], ["kgw", "gumbel", "synthid"])
        tokenizer_alone()  # warm-up
        n_tokens = encode_to_ragged()
        # Interleaved repetitions, so that the load of a shared machine falls on every case alike.
        runs: dict[str, list] = {"tok": [], "enc": [], **{str(i): [] for i in range(len(cases))}}
        for _ in range(args.reps):
            runs["tok"].append(timed(tokenizer_alone))
            runs["enc"].append(timed(encode_to_ragged))
            for i, case in enumerate(cases):
                runs[str(i)].append(timed(lambda case=case: scan_once(case)))

        def med(name: str):
            """The median run by wall time, and the median CPU time over runs."""
            rs = sorted(runs[name], key=lambda r: r[0])
            return rs[len(rs) // 2], float(np.median([r[1] for r in rs]))

        (t_tok, _, _), c_tok = med("tok")

        def row(label, wall, cpu, stages=("", "", "", "")):
            return [label, f"{wall:.2f}", *stages, f"{args.docs / wall / 1e3:.2f}k",
                    f"{n_tokens / wall / 1e6:.3f}M", f"{t_tok / wall:.2f}", f"{cpu:.2f}",
                    f"{c_tok / cpu:.2f}"]  # fmt: skip

        rows = [row("`encode_batch_fast` alone (texts in memory)", t_tok, c_tok)]
        (t_enc, _, _), c_enc = med("enc")
        rows.append(row("`encode` (+ ids to a flat int32 array)", t_enc, c_enc))
        for i, case in enumerate(cases):
            (wall, _, tm_), cpu = med(str(i))
            stages = tuple(f"{tm_[k]:.2f}" for k in ("read", "tokenize", "score", "write"))
            name = f"scan, {len(case)} watermark{'s' * (len(case) > 1)} ({', '.join(case)})"
            rows.append(row(name, wall, cpu, stages))
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    header = ["case", "wall s", "read s", "tokenize s", "score s", "write s", "docs/s",
              "tokens/s", "speed / tokenizer alone", "CPU s",
              "CPU of tokenizer alone / CPU"]  # fmt: skip
    notes = (
        f"{args.docs:,} documents of {args.chars} characters ({n_tokens / args.docs:.0f} tokens "
        f"on average; {mb:.1f} MB of JSON lines), the demo tokenizer (byte-level BPE, 4096 "
        f"tokens), batches of {bs}, Parquet output, median of {args.reps} interleaved runs. "
        "`read` is the wait for the reading thread (JSON parsing, overlapped with tokenization), "
        "`tokenize` is `encode_batch_fast` plus building the flat id array, `score` the schemes' "
        "`detect()` plus the log10 p-values, `write` the Parquet output. "
        "CPU s: CPU time of all threads of the process (`time.process_time`), which a shared "
        "machine's load does not inflate as it does wall time; its ratio says how much work the "
        "scan adds to the tokenizer's. "
        f"Rayon threads: {os.environ.get('RAYON_NUM_THREADS', 'default (all cores)')}."
    )
    table = markdown_table(header, rows)
    if args.no_record:
        print(table)
        print(notes)
    else:
        record("CPU: corpus scan, text -> scores (`tokenmark.scan`)", table, notes)


if __name__ == "__main__":
    main()
