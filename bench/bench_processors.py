"""What each scheme's logits processor costs inside ``generate`` on the demo model (CPU).

    python bench/bench_processors.py [--tokens 64] [--threads 1] [--no-record]

Per scheme and batch: the median time of one processor call, timed inside a real ``generate``
(the processor wrapped, ``time.perf_counter`` around each call), against the plain decode step
(``generate`` without a processor, total time over new tokens) measured in the same run, and the
ratio. For comparison, the same wrapping around a bare ``torch.add`` of the step's logits: the
cost of any processor that touches the logits once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import tokenmark as tm  # noqa: E402
from _common import markdown_table, record  # noqa: E402
from tokenmark import demo_model  # noqa: E402
from transformers import AutoModelForCausalLM, LogitsProcessor  # noqa: E402


class Timed(LogitsProcessor):
    def __init__(self, inner):
        self.inner, self.times = inner, []

    def __call__(self, input_ids, scores):
        t0 = time.perf_counter()
        out = self.inner(input_ids, scores)
        self.times.append(time.perf_counter() - t0)
        return out


class AddFloor(LogitsProcessor):
    def __call__(self, input_ids, scores):
        return torch.add(scores, 0.0, out=scores)


def step_ms(model, ids, procs, tokens: int, reps: int) -> float:
    """Median over reps of the generate time per new token, in ms."""
    per = []
    for r in range(reps):
        torch.manual_seed(r)
        t0 = time.perf_counter()
        model.generate(
            ids, do_sample=True, max_new_tokens=tokens, min_new_tokens=tokens, top_k=0,
            logits_processor=procs, pad_token_id=0,
        )  # fmt: skip
        per.append((time.perf_counter() - t0) / tokens * 1e3)
    return statistics.median(per)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(demo_model.PATH).float().eval()
    key = b"bench processors"
    schemes = {
        "torch.add floor": None,
        "KGW": tm.KGW(key=key, context_width=4),
        "Gumbel": tm.Gumbel(key=key, context_width=4),
        "SynthID": tm.SynthID(key=key, context_width=4),
    }
    rows = []
    g = torch.Generator().manual_seed(0)
    for batch in (1, 8):
        ids = torch.randint(5, 4000, (batch, 16), generator=g)
        plain = step_ms(model, ids, [], args.tokens, args.reps)
        for name, wm in schemes.items():
            timed = Timed(AddFloor() if wm is None else wm.logits_processor())
            with torch.no_grad():
                step_ms(model, ids, [timed], args.tokens, 1)
            call = statistics.median(timed.times) * 1e3
            rows.append([name, batch, f"{call:.3f}", f"{plain:.2f}", f"{100 * call / plain:.1f}%"])
    table = markdown_table(
        ["processor", "batch", "call (ms)", "plain step (ms)", "call / step"], rows
    )
    print(table)
    if not args.no_record:
        record(
            f"Processor cost inside generate (demo model, vocab 4096, CPU, {args.threads} thread)",
            table,
            "Median processor call timed inside a sampling generate; the plain step is generate "
            "without a processor, per new token, median of runs, same process.",
        )


if __name__ == "__main__":
    main()
