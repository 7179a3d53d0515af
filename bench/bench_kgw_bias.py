"""KGW bias application on the CPU: tokenmark vs the torch.add floor and transformers.

    python bench/bench_kgw_bias.py [--quick] [--no-record]

Per case: median time of tokenmark's logits processor call (what generate pays), the floor
`torch.add(x, y, out=x)` on the same logits (one read of each input, one write), and
transformers' `WatermarkLogitsProcessor` on the same logits, all measured in this run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import bias_cases, markdown_table, median_time, record  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer cases")
    ap.add_argument("--no-record", action="store_true", help="print only")
    args = ap.parse_args()
    try:
        from transformers import WatermarkLogitsProcessor
    except ImportError:
        WatermarkLogitsProcessor = None

    wm = tm.KGW(key=b"bench", gamma=0.25, delta=2.0, context_width=4)
    proc = wm.logits_processor()
    batches = [1, 8, 64] if not args.quick else [1, 64]
    vocabs = [32000, 128256, 151936] if not args.quick else [32000, 151936]
    rows = []
    for dtype, vocab, batch in bias_cases(vocabs, batches):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(batch, vocab, generator=g).to(dtype)
        y = torch.randn(batch, vocab, generator=g).to(dtype)
        ids = torch.randint(0, vocab, (batch, 64), generator=g)
        t_tm = median_time(lambda: proc(ids, x))
        t_floor = median_time(lambda: torch.add(x, y, out=x))
        t_hf = float("nan")
        if WatermarkLogitsProcessor is not None and dtype == torch.float32:
            hf = WatermarkLogitsProcessor(vocab, "cpu", greenlist_ratio=0.25, bias=2.0)
            t_hf = median_time(lambda: hf(ids, x), min_time=0.3, max_reps=20)
        gbs = 2 * x.numel() * x.element_size() / t_tm / 1e9
        rows.append(
            [
                str(dtype).replace("torch.", ""),
                batch,
                vocab,
                f"{t_tm * 1e6:.1f}",
                f"{gbs:.1f}",
                f"{t_floor * 1e6:.1f}",
                f"{t_tm / t_floor:.2f}",
                "n/a" if t_hf != t_hf else f"{t_hf * 1e6:.0f}",
                "n/a" if t_hf != t_hf else f"{t_hf / t_tm:.0f}x",
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "dtype",
        "batch",
        "vocab",
        "tokenmark us",
        "GB/s (r+w)",
        "torch.add floor us",
        "tokenmark / floor",
        "transformers us",
        "transformers / tokenmark",
    ]
    table = markdown_table(header, rows)
    notes = (
        "tokenmark: `KGWLogitsProcessor.__call__` (Python dispatch included), context width 4. "
        "Floor: `torch.add(x, y, out=x)` on the same shape and dtype (reads 2 arrays, writes 1; "
        "tokenmark reads and writes 1). transformers: `WatermarkLogitsProcessor` (lefthash, "
        "context width 1), float32 only."
    )
    record("CPU: KGW bias application (`apply_kgw_bias_`)", table, notes, dry_run=args.no_record)


if __name__ == "__main__":
    main()
