"""KGW detection throughput on the CPU: tokenmark vs reading the tokens and transformers.

    python bench/bench_kgw_score.py [--tokens N] [--no-record]

End to end from a numpy array: `KGW.detect(Ragged)` including the exact p-values, in tokens/s,
for the default scheme with and without dedup, against the floor of reading the tokens once
(`np.bitwise_or.reduce`) and transformers' `WatermarkDetector` measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import markdown_table, median_time, record  # noqa: E402


def transformers_tokens_per_s(vocab: int, n_docs: int, length: int) -> float:
    import torch
    from transformers import LlamaConfig, WatermarkDetector, WatermarkingConfig

    cfg = LlamaConfig(vocab_size=vocab, bos_token_id=1)
    det = WatermarkDetector(
        cfg, "cpu", WatermarkingConfig(greenlist_ratio=0.25, bias=2.0), ignore_repeated_ngrams=False
    )
    ids = torch.randint(3, vocab, (n_docs, length))
    t0 = time.perf_counter()
    det(ids)
    return n_docs * length / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=20_000_000)
    ap.add_argument("--doc-len", type=int, default=1000)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n_docs = args.tokens // args.doc_len
    n = n_docs * args.doc_len
    tokens = rng.integers(0, 50000, n).astype(np.int32)
    docs = tm.Ragged(tokens, np.arange(n_docs + 1, dtype=np.int64) * args.doc_len)
    t_read = median_time(lambda: np.bitwise_or.reduce(tokens), min_time=0.5)
    try:
        hf_tps = transformers_tokens_per_s(50000, 20, 200)
    except ImportError:
        hf_tps = float("nan")
    rows = []
    for seeding in ("prev", "minhash"):
        for dedup in (False, True):
            wm = tm.KGW(key=b"bench", context_width=4, seeding=seeding, dedup=dedup)
            t = median_time(lambda: wm.detect(docs), min_time=1.0, max_reps=15)
            tps = n / t
            rows.append(
                [
                    seeding,
                    "yes" if dedup else "no",
                    f"{n:,}",
                    f"{t * 1e3:.1f}",
                    f"{tps / 1e6:.0f}M",
                    f"{n / t_read / 1e6:.0f}M",
                    f"{t / t_read:.1f}",
                    f"{hf_tps / 1e3:.1f}k",
                    f"{tps / hf_tps:,.0f}x",
                ]
            )
            print(rows[-1], flush=True)
    header = [
        "seeding",
        "dedup",
        "tokens",
        "ms",
        "tokenmark tok/s",
        "read floor tok/s",
        "tokenmark / floor",
        "transformers tok/s",
        "tokenmark / transformers",
    ]
    notes = (
        f"Documents of {args.doc_len} tokens, context width 4, gamma 0.25, end to end "
        "(`KGW.detect` on a `Ragged` of int32 ids: validation, kernel, exact binomial p-values). "
        "Floor: one read of the token array (`np.bitwise_or.reduce`). transformers: "
        "`WatermarkDetector` (lefthash, width 1, no repeated-ngram filter) on 20 x 200 tokens."
    )
    table = markdown_table(header, rows)
    record("CPU: KGW detection throughput (`score_kgw`)", table, notes, dry_run=args.no_record)


if __name__ == "__main__":
    main()
