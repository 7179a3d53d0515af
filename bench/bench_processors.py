"""What each scheme's logits processor costs inside ``generate`` on the demo model (CPU).

    python bench/bench_processors.py [--tokens 64] [--reps 15] [--threads 1] [--no-record]

Per scheme and batch: the median time of one processor call, timed inside a real ``generate``
(the processor wrapped, ``time.perf_counter`` around each call), against the plain decode step
(``generate`` without a processor, total time over new tokens) measured in the same run, and the
ratio; and the whole step's difference with and without the processor (interleaved reps, the
same seed), which also counts what the processor costs the code after it (caches it evicts).
For comparison, the same wrapping around a bare ``torch.add`` of the step's logits: the cost of
any processor that touches the logits once. Run it on a quiet machine: the difference of two
generates is a small difference of large, noisy numbers.
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


def generate_ms(model, ids, procs, tokens: int, seed: int) -> float:
    """The time of one sampling generate per new token, in ms."""
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model.generate(
        ids, do_sample=True, max_new_tokens=tokens, min_new_tokens=tokens, top_k=0,
        logits_processor=procs, pad_token_id=0,
    )  # fmt: skip
    return (time.perf_counter() - t0) / tokens * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=15)
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
        timed = {
            name: Timed(AddFloor() if wm is None else wm.logits_processor())
            for name, wm in schemes.items()
        }
        steps = {name: [] for name in ["plain", *timed]}
        with torch.no_grad():
            for r in range(args.reps):  # interleaved: each rep runs every configuration once
                for name in steps:
                    procs = [] if name == "plain" else [timed[name]]
                    steps[name].append(generate_ms(model, ids, procs, args.tokens, r))
        plain = statistics.median(steps["plain"])
        for name, proc in timed.items():
            call = statistics.median(proc.times) * 1e3
            extra = statistics.median(w - p for w, p in zip(steps[name], steps["plain"]))
            rows.append([
                name, batch, f"{call:.3f}", f"{plain:.2f}", f"{100 * call / plain:.1f}%",
                f"{extra:+.3f}", f"{100 * extra / plain:+.1f}%",
            ])  # fmt: skip
    table = markdown_table(
        ["processor", "batch", "call (ms)", "plain step (ms)", "call / step",
         "step with - without (ms)", "of the step"],
        rows,
    )  # fmt: skip
    print(table)
    if not args.no_record:
        record(
            f"Processor cost inside generate (demo model, vocab 4096, CPU, {args.threads} thread)",
            table,
            "call: the median processor call, timed inside a sampling generate; plain step: "
            "generate without a processor, per new token, median over reps; 'step with - "
            "without': the median over reps of (generate with the processor - generate without) "
            "per new token, the two run back to back with the same seed (interleaved reps).",
        )


if __name__ == "__main__":
    main()
