"""Null calibration over many keys on unwatermarked model text (CPU, about 2 minutes).

    python bench/null_calibration.py [--keys 400] [--n 128] [--seed 0] [--no-record]

Generates ``n`` unwatermarked continuations of 256 tokens with the bundled demo model (random id
prompts of 32 tokens, temperature 1), then scores every one with each detector under ``keys``
different keys. For a fixed document, a valid p-value is flagged at ``alpha`` with probability at
most ``alpha`` over keys; the mean false-positive rate over keys checks that on real model text,
whose documents share n-grams (so one key's rate varies more than a binomial; see EVAL.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import eval_watermark as ev  # noqa: E402
import tokenmark as tm  # noqa: E402
from _common import markdown_table, record  # noqa: E402
from tokenmark import demo_model  # noqa: E402
from tokenmark.evaluation.schemes import KGWScheme, NoWatermark  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

PROMPT, NEW = 32, 256
ALPHAS = (0.05, 0.01, 0.001)
DETECTORS = {
    "SynthID l=30 h=4 (mean score)": lambda k: tm.SynthID(key=k, layers=30, context_width=4),
    "Gumbel h=4": lambda k: tm.Gumbel(key=k, context_width=4),
    "KGW g=0.25 h=4": lambda k: tm.KGW(key=k, gamma=0.25, delta=2.0, context_width=4),
}


def verdict(cells) -> str:
    """The sentence the numbers support. ``cells``: (detector, alpha, mean FPR over keys, its
    standard error); a cell fails when its mean exceeds alpha by more than two standard errors."""
    bad = [
        f"{name} at alpha {a} ({m:.5f} +- {se:.5f})" for name, a, m, se in cells if m > a + 2 * se
    ]
    if not bad:
        return "Every rate is within two standard errors of alpha or below it."
    return "Above alpha by more than two standard errors: " + "; ".join(bad) + "."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=400)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument(
        "--seed", type=int, default=0, help="prompts and sampling (0: the recorded run)"
    )
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    model = AutoModelForCausalLM.from_pretrained(demo_model.PATH, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(demo_model.PATH)
    rng = np.random.default_rng(5 + args.seed)
    prompts = rng.integers(5, tok.vocab_size, (args.n, PROMPT))
    baseline = NoWatermark(KGWScheme(tm.KGW(key=b"unused")))
    gen, _ = ev.generate(
        model, tok, prompts, baseline, NEW, 1 + args.seed, model.config.max_position_embeddings
    )
    seqs = [np.concatenate([p, g]) for p, g in zip(prompts, gen, strict=True)]
    rows, stats = [], []
    for name, make in DETECTORS.items():
        p = np.array(
            [
                make(b"null-key-%d" % k).detect(seqs, prefix_lengths=PROMPT).p_value
                for k in range(args.keys)
            ]
        )
        cells = []
        for a in ALPHAS:
            fpr = (p <= a).mean(axis=1)
            se = fpr.std(ddof=1) / np.sqrt(args.keys)
            cells.append(f"{fpr.mean():.5f} +- {se:.5f}")
            stats.append((name, a, float(fpr.mean()), float(se)))
        rows.append([name, *cells])
        print(rows[-1], flush=True)
    table = markdown_table(["detector", *(f"FPR at alpha {a}" for a in ALPHAS)], rows)
    notes = (
        f"{args.n} unwatermarked demo-model continuations of {NEW} tokens (32-token random-id "
        f"prompts, temperature 1, seed {args.seed}), each scored under {args.keys} keys; mean "
        "false-positive rate over keys +- its standard error. " + verdict(stats)
    )
    print(notes, flush=True)
    if not args.no_record:
        record("CPU: null calibration over keys on model text", table, notes)


if __name__ == "__main__":
    main()
