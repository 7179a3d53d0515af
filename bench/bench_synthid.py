"""SynthID-Text on the CPU: tournament sampling vs transformers' SynthIDTextWatermarkLogitsProcessor
and a plain softmax-sample floor, and detection throughput.

    python bench/bench_synthid.py [--no-record]

Sampling: `SynthID.sample` (30 layers, the fused C++ tournament over the whole vocabulary, one
inverse-CDF draw per row) against transformers' processor (ngram_len 5 = context 4, 30 keys,
context history 1024) followed by `torch.multinomial(softmax)` -- what `generate` does with it --
and against softmax + multinomial alone (the floor), all on the same float32 logits in the same
run. Detection: `SynthID.detect(Ragged)` end to end (exact binomial and weighted-mean p-values).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import DETECT_DOC_LEN, detection_table, markdown_table, median_time, record  # noqa: E402


def hf_processor(batch: int):
    from transformers import SynthIDTextWatermarkLogitsProcessor

    return SynthIDTextWatermarkLogitsProcessor(
        ngram_len=5,
        keys=list(range(654, 684)),
        sampling_table_size=2**16,
        sampling_table_seed=0,
        context_history_size=1024,
        device=torch.device("cpu"),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=5_000_000)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    wm = tm.SynthID(key=b"bench", layers=30, context_width=4)
    rows = []
    for vocab, batch in ((32000, 1), (32000, 8), (32000, 32), (128256, 1), (128256, 8)):
        x = (rng.standard_normal((batch, vocab)) * 2).astype(np.float32)
        ids = rng.integers(0, vocab, (batch, 64))
        xt, idt = torch.from_numpy(x), torch.from_numpy(ids)
        t = median_time(lambda: wm.sample(x, ids, rng=rng), min_time=0.5, max_reps=100)
        t_floor = median_time(
            lambda: torch.multinomial(torch.softmax(xt, -1), 1), min_time=0.5, max_reps=100
        )
        proc = hf_processor(batch)

        def hf_step():
            return torch.multinomial(torch.softmax(proc(idt, xt.clone()), -1), 1)

        t_hf = median_time(hf_step, min_time=1.0, max_reps=10)
        rows.append(
            [
                vocab,
                batch,
                f"{t * 1e3:.2f}",
                f"{t_floor * 1e3:.2f}",
                f"{t / t_floor:.2f}",
                f"{t_hf * 1e3:.1f}",
                f"{t_hf / t:.0f}x",
            ]
        )
        print(rows[-1], flush=True)
    sample_table = markdown_table(
        [
            "vocab",
            "batch",
            "tokenmark ms",
            "softmax+multinomial ms",
            "tokenmark / floor",
            "transformers ms",
            "speed-up vs transformers",
        ],
        rows,
    )
    detect_table = detection_table(
        lambda dedup: tm.SynthID(key=b"bench", dedup=dedup), args.tokens, rng
    )
    notes = (
        "Sampling: float32 logits N(0, 2^2), 30 layers, full vocabulary, context width 4 over 64 "
        "ids with the repeated-context check (history 1024). transformers: its processor then "
        "softmax + multinomial, as in generate. Detection: documents of "
        f"{DETECT_DOC_LEN} tokens, 30 layers, end to end."
    )
    table = sample_table + "\n\n" + detect_table
    record("CPU: SynthID-Text sampling and detection", table, notes, dry_run=args.no_record)


if __name__ == "__main__":
    main()
