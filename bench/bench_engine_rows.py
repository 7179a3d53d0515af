"""What the serving processors' shared core costs per decode step (CPU, no engine needed).

    python bench/bench_engine_rows.py [--batch 64] [--vocab 32000] [--threads 1] [--no-record]

``tokenmark.integrations._engine_rows.apply_watermarks_`` is what the vLLM and SGLang processors
run each step: per-row watermarks (here one key ring entry per scheme), each row's history
gathered from a ``[max_num_reqs, max_model_len]`` token buffer as vLLM lays it out, rows grouped
by scheme config and needed history. Against, in the same run: a floor that reads and writes the
opted-in rows once (``index_select`` + ``index_copy_``), and our transformers processor on the
same logits with a rectangular ``[batch, length]`` history (one key, no grouping). Two history
layouts: every row the same length, and ragged (lengths 500..500+batch-1), where Gumbel with
``skip_repeated`` and SynthID need a launch per distinct needed length.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import markdown_table, median_time, record  # noqa: E402
from tokenmark.integrations._engine_rows import apply_watermarks_  # noqa: E402
from tokenmark.scan.watermarks import Watermark  # noqa: E402

SCHEMES = {
    "KGW": tm.KGW(key=b"bench", context_width=4),
    "Gumbel": tm.Gumbel(key=b"bench", context_width=4),
    "SynthID": tm.SynthID(key=b"bench", context_width=4),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-record", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    b, v = a.batch, a.vocab
    logits = torch.from_numpy(rng.normal(0, 3, (b, v)).astype(np.float32))
    buf = torch.from_numpy(rng.integers(0, v, (b, 500 + b)).astype(np.int32))
    rows = np.arange(b, dtype=np.int64)
    table = []
    for layout, lengths in (("equal", np.full(b, 512)), ("ragged", 500 + np.arange(b))):

        def gather(sel, h, lengths=lengths):
            cols = (lengths[sel] - h)[:, None] + np.arange(h)
            return buf[torch.from_numpy(sel)[:, None], torch.from_numpy(cols)]

        def floor():
            t = torch.from_numpy(rows)
            x = logits.clone()
            x.index_copy_(0, t, x.index_select(0, t))

        t_floor = median_time(floor)
        for name, scheme in SCHEMES.items():
            marks = [Watermark(name, "bench", scheme)] * b
            t_core = median_time(
                lambda marks=marks, gather=gather, lengths=lengths: apply_watermarks_(
                    logits.clone(), rows, marks, lengths, gather
                )
            )
            ids = torch.from_numpy(buf[:, :512].numpy().astype(np.int64))
            proc = scheme.logits_processor()
            t_hf = median_time(lambda proc=proc, ids=ids: proc(ids, logits.clone()))
            table.append(
                [layout, name, b, v, f"{t_floor * 1e3:.3f}", f"{t_hf * 1e3:.3f}",
                 f"{t_core * 1e3:.3f}", f"{t_core / t_hf:.2f}", f"{t_core / t_floor:.1f}"]
            )  # fmt: skip
    out = markdown_table(
        ["histories", "scheme", "batch", "vocab", "floor (ms)", "transformers proc (ms)",
         "engine core (ms)", "core / proc", "core / floor"],
        table,
    )  # fmt: skip
    notes = (
        "Median per call, 1 thread; every column includes a clone of the logits (the "
        "call's input). floor: index_select + index_copy_ of the batch's rows. transformers "
        "proc: one key, a rectangular [batch, 512] history "
        "(what generate passes). engine core: per-row watermarks, histories gathered per row from "
        "a [max_num_reqs, max_model_len] buffer, rows grouped by config and needed history "
        "(Gumbel with skip_repeated and SynthID need the whole / context_history + width "
        "history: a ragged batch costs one launch per distinct length)."
    )
    if a.no_record:
        print(out + "\n\n" + notes)
    else:
        record(f"Serving processors' core per decode step (CPU, {a.threads} thread)", out, notes)


if __name__ == "__main__":
    main()
