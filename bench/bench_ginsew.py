"""GINSEW embedding (`apply_ginsew_`): tokenmark vs a log_softmax floor and a plain torch version.

    python bench/bench_ginsew.py [--quick] [--no-record] [--device cpu|cuda]

Per case, all measured in this run: the median time of tokenmark's logits processor call (what
generate pays: the perturbed log-probabilities, in place), the floor `torch.log_softmax(x, -1)`
on the same logits (one read, one write, plus the exp sums: the least any embedding of a
distribution-level watermark can cost), and the same perturbation written in plain torch ops
(softmax, group sums by a mask, rescale, log: what the official code does per row, batched).
On CUDA the tokenmark column is the CUDA kernel and a second column the Triton kernel.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import bias_cases, markdown_table, median_time, record  # noqa: E402


def torch_version(x, g0, t, eps, f):
    """The perturbation in plain torch (float32), batched: the peer in the same run."""
    p = torch.softmax(x.float(), dim=-1)
    q0 = (p * g0).sum(-1, keepdim=True)
    q1 = 1 - q0
    c = torch.cos(f * t)[:, None]
    n0 = (q0 + eps * (1 + c)) / (1 + 2 * eps)
    n1 = (q1 + eps * (1 - c)) / (1 + 2 * eps)
    return torch.log(torch.where(g0.bool(), p * (n0 / q0), p * (n1 / q1)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer cases")
    ap.add_argument("--no-record", action="store_true", help="print only")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda":
        sync = torch.cuda.synchronize
    else:
        torch.set_num_threads(1)

        def sync():
            return None

    def timed(fn):
        def run():
            fn()
            sync()

        return median_time(run)

    wm = tm.GINSEW(key=b"bench", epsilon=0.2, frequency=16.0, context_width=1)
    proc = wm.logits_processor()
    proc_triton = wm.logits_processor(backend="triton") if dev.type == "cuda" else None
    batches = [1, 8, 64] if not args.quick else [1, 64]
    vocabs = [32000, 128256] if not args.quick else [32000]
    rows = []
    for dtype, vocab, batch in bias_cases(vocabs, batches):
        g = torch.Generator().manual_seed(0)
        x = (torch.randn(batch, vocab, generator=g) * 3).to(dtype).to(dev)
        ids = torch.randint(0, vocab, (batch, 16), generator=g).to(dev)
        g0 = torch.from_numpy(wm.group_flags(vocab)).float().to(dev)
        t = torch.from_numpy(wm.times(ids.cpu())).float().to(dev)
        t_tm = timed(lambda: proc(ids, x))
        t_tr = timed(lambda: proc_triton(ids, x)) if proc_triton else math.nan
        t_floor = timed(lambda: torch.log_softmax(x, -1))
        t_peer = timed(lambda: torch_version(x, g0, t, 0.2, 16.0))
        gbs = 2 * x.numel() * x.element_size() / t_tm / 1e9
        rows.append(
            [
                str(dtype).replace("torch.", ""),
                batch,
                vocab,
                f"{t_tm * 1e6:.1f}",
                f"{gbs:.2f}",
                "n/a" if t_tr != t_tr else f"{t_tr * 1e6:.1f}",
                f"{t_floor * 1e6:.1f}",
                f"{t_tm / t_floor:.2f}",
                f"{t_peer * 1e6:.1f}",
                f"{t_peer / t_tm:.2f}x",
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "dtype",
        "batch",
        "vocab",
        "tokenmark us",
        "GB/s (r+w)",
        "triton us",
        "log_softmax floor us",
        "tokenmark / floor",
        "plain torch us",
        "plain torch / tokenmark",
    ]
    table = markdown_table(header, rows)
    where = "CUDA" if dev.type == "cuda" else "CPU (OMP_NUM_THREADS=1, torch 1 thread)"
    notes = (
        f"{where}. tokenmark: `GINSEWLogitsProcessor.__call__` (Python dispatch included), "
        "eps 0.2, f 16, context width 1; it reads each row twice (pass 1: per-group max and exp "
        "sums, pass 2: write); the group flags (one byte per token id) are made with the PRF "
        "once per key and kept by the calling thread, so these repeated calls read them from "
        "cache. Floor: "
        "`torch.log_softmax(x, -1)` (out of place) on the same logits. Plain torch: softmax, "
        "group masses by a precomputed float mask, rescale, log (float32; times precomputed "
        "outside the timing; no exact handling of an underflowing group)."
    )
    record(
        f"{where.split(' ')[0]}: GINSEW embedding (`apply_ginsew_`)",
        table,
        notes,
        dry_run=args.no_record,
    )


if __name__ == "__main__":
    main()
