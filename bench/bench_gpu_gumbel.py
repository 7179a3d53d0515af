"""GPU benchmark of the Gumbel operations against same-run floors (about 30 s on an H100).

sample_gumbel: one decode step's choice for [batch, vocab] logits, against the unwatermarked
sampler it replaces, ``torch.multinomial(torch.softmax(logits.float(), -1), 1)``, on the same
logits. score_gumbel: tokens/s on 10^7 tokens in documents of 1000, with and without dedup.
Each backend named by ``--backends`` (the CUDA kernels, the Triton kernels) is timed in the same
run. layout: the CUDA sampler with one block per row against rows split over blocks, and
Triton, per shape; its summary lines set ``kGumbelSplitMinVocab`` (csrc/cuda/gumbel_cuda.h) and
``TRITON_GUMBEL_MIN_VOCAB`` (tokenmark.backends). detect: ``Gumbel.detect`` on CUDA tensors
(scored on the device). Timing: CUDA events around each call after warm-up; medians. Usage::

    python bench/bench_gpu_gumbel.py --backends cuda,triton --out gpu_out/gpu_results.md
"""

from __future__ import annotations

import torch
from bench_gpu_kgw import (
    DETECT_TOKENS,
    SCORE_DOC_LEN,
    SCORE_TOKENS,
    detect_step,
    median_ms,
    run_scheme_bench,
    score_step,
)

SAMPLE_BATCHES = (1, 8, 64)
SAMPLE_VOCABS = (32000, 128256)
SAMPLE_DTYPES = (torch.bfloat16, torch.float32)
WIDTH, SEEDING = 4, 0
# The modules whose sample_gumbel / score_gumbel take the same arguments.
BACKEND_MODULES = {
    "cuda": "tokenmark.backends.cuda.gumbel",
    "triton": "tokenmark.backends.triton.gumbel",
}


def bench_sample(backends: dict[str, object], rows: list[str]) -> None:
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    rows += [
        "| op | backend | dtype | batch | vocab | tokenmark ms | softmax+multinomial ms | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dtype in SAMPLE_DTYPES:
        for vocab in SAMPLE_VOCABS:
            for batch in SAMPLE_BATCHES:
                logits = torch.randn(batch, vocab, device=dev, generator=gen).to(dtype)
                ids = torch.randint(0, vocab, (batch, 64), device=dev, generator=gen)
                keys = torch.randint(-(2**31), 2**31 - 1, (batch, 4), device=dev, generator=gen,
                                     dtype=torch.int32)  # fmt: skip
                salts = torch.zeros(1, dtype=torch.int32, device=dev)
                floor = median_ms(
                    lambda: torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen)
                )
                name = str(dtype).removeprefix("torch.")
                for backend, mod in backends.items():
                    ms = median_ms(
                        lambda mod=mod: mod.sample_gumbel(
                            logits, ids, keys, salts, None, WIDTH, SEEDING, True
                        )
                    )
                    rows.append(
                        f"| sample_gumbel | {backend} | {name} | {batch} | {vocab} | {ms:.4f} "
                        f"| {floor:.4f} | {ms / floor:.2f} |"
                    )


bench_score = score_step(
    "score_gumbel",
    SCORE_TOKENS,
    SCORE_DOC_LEN,
    lambda dev: (torch.zeros(1, dtype=torch.int32, device=dev), WIDTH, SEEDING),
)


LAYOUT_VOCABS = (8192, 16384, 32768, 65536, 128256, 151936)
LAYOUT_BATCHES = (1, 4, 8, 32, 128)


def first_win(wins: list[tuple[int, bool]]) -> str:
    """The smallest vocabulary from which every larger one wins, or 'none'."""
    for i, (vocab, _) in enumerate(wins):
        if all(w for _, w in wins[i:]):
            return str(vocab)
    return "none"


def bench_layout(backends: dict[str, object], rows: list[str]) -> None:
    if "cuda" not in backends:
        rows.append("\n(layout: needs the cuda backend)")
        return
    cuda = backends["cuda"]
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(2)
    cap = torch.cuda.get_device_properties(dev).multi_processor_count * 8  # launch.h's grid cap
    rows += [
        "",
        "### sample_gumbel layout (bfloat16): one block per row vs split rows vs Triton",
        "",
        "| batch | vocab | floor ms | one block / floor | split / floor | triton / floor "
        "| split / one block | triton / split |",
        "|---|---|---|---|---|---|---|---|",
    ]
    split_wins: dict[int, list[tuple[int, bool]]] = {}
    triton_wins: dict[int, list[tuple[int, bool]]] = {}
    for batch in LAYOUT_BATCHES:
        for vocab in LAYOUT_VOCABS:
            logits = torch.randn(batch, vocab, device=dev, generator=gen).to(torch.bfloat16)
            ids = torch.randint(0, vocab, (batch, 64), device=dev, generator=gen)
            keys = torch.randint(-(2**31), 2**31 - 1, (batch, 4), device=dev, generator=gen,
                                 dtype=torch.int32)  # fmt: skip
            salts = torch.zeros(1, dtype=torch.int32, device=dev)
            args = (logits, ids, keys, salts, None, WIDTH, SEEDING, True)
            floor = median_ms(
                lambda: torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen)
            )
            splits = max(1, -(-cap // batch))
            one = median_ms(lambda: cuda.sample_gumbel(*args, splits=1))
            split = median_ms(lambda splits=splits: cuda.sample_gumbel(*args, splits=splits))
            # The split path must pick the same tokens as one block per row.
            same = torch.equal(
                cuda.sample_gumbel(*args, splits=1), cuda.sample_gumbel(*args, splits=splits)
            )
            tri = (
                median_ms(lambda: backends["triton"].sample_gumbel(*args))
                if "triton" in backends
                else float("nan")
            )
            best_cuda = min(one, split)
            split_wins.setdefault(batch, []).append((vocab, split < one))
            triton_wins.setdefault(batch, []).append((vocab, tri < best_cuda))
            rows.append(
                f"| {batch} | {vocab} | {floor:.4f} | {one / floor:.2f} | {split / floor:.2f} "
                f"| {tri / floor:.2f} | {split / one:.2f} | {tri / split:.2f} |"
                + ("" if same else " MISMATCH")
            )  # fmt: skip
    rows.append("")
    for batch in LAYOUT_BATCHES:
        rows.append(
            f"- batch {batch}: split rows win from vocab {first_win(split_wins[batch])} "
            f"(kGumbelSplitMinVocab); Triton beats the better CUDA layout from vocab "
            f"{first_win(triton_wins[batch])} (TRITON_GUMBEL_MIN_VOCAB)"
        )


bench_detect = detect_step("Gumbel", DETECT_TOKENS, SCORE_DOC_LEN)


if __name__ == "__main__":
    run_scheme_bench(
        "Gumbel", __doc__, BACKEND_MODULES, (bench_sample, bench_score, bench_layout, bench_detect)
    )
