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

        def tokenizer_alone() -> float:
            t0 = time.perf_counter()
            for i in range(0, len(texts), bs):
                tok.encode_batch_fast(texts[i : i + bs], add_special_tokens=False)
            return time.perf_counter() - t0

        def encode_to_ragged() -> tuple[float, int]:
            t0 = time.perf_counter()
            n = 0
            for i in range(0, len(texts), bs):
                n += len(ts.encode(tok, texts[i : i + bs]).tokens)
            return time.perf_counter() - t0, n

        def scan_once(case: list[str]) -> tuple[float, dict]:
            wms = ts.load_watermarks([WATERMARKS[c] for c in case])
            out = tmp / "out"
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            rep = ts.scan(
                ts.expand_inputs([str(corpus)]),
                wms,
                out,
                read_options=ts.ReadOptions(batch_size=bs),
                tokenizer=tok,
                progress=False,
                log=lambda s: None,
            )
            wall = time.perf_counter() - t0
            assert rep.summary["n_tokens"] == n_tokens, "scan and encode disagree"
            return wall, rep.timings

        cases = (["kgw"], ["kgw", "gumbel", "synthid"])
        tokenizer_alone()  # warm-up
        _, n_tokens = encode_to_ragged()
        # Interleaved repetitions, so that the load of a shared machine falls on every case alike.
        t_toks, t_encs, scans = [], [], {i: [] for i in range(len(cases))}
        for _ in range(args.reps):
            t_toks.append(tokenizer_alone())
            t_encs.append(encode_to_ragged()[0])
            for i, case in enumerate(cases):
                scans[i].append(scan_once(case))
        t_tok, t_enc = float(np.median(t_toks)), float(np.median(t_encs))
        rows = [
            ["`encode_batch_fast` alone (texts in memory)", f"{t_tok:.2f}", "", "", "", "",
             f"{args.docs / t_tok / 1e3:.1f}k", f"{n_tokens / t_tok / 1e6:.2f}M", "1.00"],
            ["`encode` (+ ids to a flat int32 array)", f"{t_enc:.2f}", "", f"{t_enc:.2f}", "", "",
             f"{args.docs / t_enc / 1e3:.1f}k", f"{n_tokens / t_enc / 1e6:.2f}M",
             f"{t_tok / t_enc:.2f}"],
        ]  # fmt: skip
        for i, case in enumerate(cases):
            wall, tm_ = sorted(scans[i], key=lambda r: r[0])[len(scans[i]) // 2]
            rows.append(
                [
                    f"scan, {len(case)} watermark{'s' * (len(case) > 1)} ({', '.join(case)})",
                    f"{wall:.2f}",
                    f"{tm_['read']:.2f}",
                    f"{tm_['tokenize']:.2f}",
                    f"{tm_['score']:.2f}",
                    f"{tm_['write']:.2f}",
                    f"{args.docs / wall / 1e3:.1f}k",
                    f"{n_tokens / wall / 1e6:.2f}M",
                    f"{t_tok / wall:.2f}",
                ]
            )
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    header = ["case", "s", "read s", "tokenize s", "score s", "write s", "docs/s", "tokens/s",
              "speed / tokenizer alone"]  # fmt: skip
    notes = (
        f"{args.docs:,} documents of {args.chars} characters ({n_tokens / args.docs:.0f} tokens "
        f"on average; {mb:.1f} MB of JSON lines), the demo tokenizer (byte-level BPE, 4096 "
        f"tokens), batches of {bs}, Parquet output, median of {args.reps} interleaved runs. "
        "`read` is the wait for the reading thread (JSON parsing, overlapped with tokenization), "
        "`tokenize` is `encode_batch_fast` plus building the flat id array, `score` the schemes' "
        "`detect()` plus the log10 p-values, `write` the Parquet output. "
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
