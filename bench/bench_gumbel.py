"""Gumbel-max watermark on the CPU: sampling vs a plain softmax-sample floor, and detection
throughput.

    python bench/bench_gumbel.py [--no-record]

Sampling: `Gumbel.choose` (the fused C++ argmax over logit + PRF Gumbel noise) on float32
logits [batch, 128256], against `torch.multinomial(torch.softmax(x, -1), 1)` on the same
tensor, measured in the same run. Two logit shapes: "flat" (N(0, 2^2): every token a candidate,
the worst case for the exact pruning) and "peaked" (N(0, 4^2) with a few strong tokens, like an
LLM's). Detection: `Gumbel.detect(Ragged)` end to end, including the Gamma p-values.
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

VOCAB = 128256


def make_logits(rng, batch: int, kind: str) -> np.ndarray:
    if kind == "flat":
        return (rng.standard_normal((batch, VOCAB)) * 2).astype(np.float32)
    x = rng.standard_normal((batch, VOCAB)) * 4
    top = rng.integers(0, VOCAB, (batch, 5))
    np.put_along_axis(x, top, 25.0 + rng.standard_normal((batch, 5)) * 2, axis=1)
    return x.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=5_000_000)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    wm = tm.Gumbel(key=b"bench", context_width=4)
    rows = []
    for kind in ("flat", "peaked"):
        for batch in (1, 8, 32):
            x = make_logits(rng, batch, kind)
            ids = rng.integers(0, VOCAB, (batch, 64))
            xt = torch.from_numpy(x)
            t = median_time(lambda: wm.choose(x, ids), min_time=0.5, max_reps=200)
            t_floor = median_time(
                lambda: torch.multinomial(torch.softmax(xt, -1), 1), min_time=0.5, max_reps=200
            )
            rows.append(
                [
                    kind,
                    batch,
                    f"{t * 1e3:.3f}",
                    f"{t_floor * 1e3:.3f}",
                    f"{t / t_floor:.2f}",
                    f"{batch * VOCAB * 4 / t / 1e9:.1f}",
                ]
            )
            print(rows[-1], flush=True)
    sample_table = markdown_table(
        ["logits", "batch", "gumbel ms", "softmax+multinomial ms", "gumbel / floor", "GB/s read"],
        rows,
    )
    detect_table = detection_table(
        lambda dedup: tm.Gumbel(key=b"bench", dedup=dedup), args.tokens, rng
    )
    notes = (
        f"Sampling: float32 logits [batch, {VOCAB}], context width 4 over 64 ids (repeated-context "
        "check included). Floor: torch softmax + multinomial on the same tensor. Detection: "
        f"documents of {DETECT_DOC_LEN} tokens, width 4, end to end with exact Gamma p-values."
    )
    table = sample_table + "\n\n" + detect_table
    record("CPU: Gumbel sampling and detection", table, notes, dry_run=args.no_record)


if __name__ == "__main__":
    main()
