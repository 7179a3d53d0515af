"""GPU benchmark of the Gumbel operations against same-run floors (about 15 s on an H100).

sample_gumbel: one decode step's choice for [batch, vocab] logits, against the unwatermarked
sampler it replaces, ``torch.multinomial(torch.softmax(logits.float(), -1), 1)``, on the same
logits. score_gumbel: tokens/s on 10^7 tokens in documents of 1000, with and without dedup.
Each backend named by ``--backends`` (the CUDA kernels, the Triton kernels) is timed in the same
run. Timing: CUDA events around each call after warm-up; medians. Usage::

    python bench/bench_gpu_gumbel.py --backends cuda,triton --out gpu_out/gpu_results.md
"""

from __future__ import annotations

import torch
from bench_gpu_kgw import median_ms, run_scheme_bench

SAMPLE_BATCHES = (1, 8, 64)
SAMPLE_VOCABS = (32000, 128256)
SAMPLE_DTYPES = (torch.bfloat16, torch.float32)
SCORE_TOKENS = 10**7
SCORE_DOC_LEN = 1000
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


def bench_score(backends: dict[str, object], rows: list[str]) -> None:
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(1)
    tokens = torch.randint(0, 128256, (SCORE_TOKENS,), device=dev, generator=gen,
                           dtype=torch.int32)  # fmt: skip
    offsets = torch.arange(0, SCORE_TOKENS + 1, SCORE_DOC_LEN, device=dev)
    salts = torch.zeros(1, dtype=torch.int32, device=dev)
    rows += [
        "",
        "| op | backend | tokens | dedup | ms | Mtokens/s |",
        "|---|---|---|---|---|---|",
    ]
    for backend, mod in backends.items():
        for dedup in (False, True):
            ms = median_ms(
                lambda mod=mod, dedup=dedup: mod.score_gumbel(
                    tokens, offsets, None, (1, 2, 3, 4), salts, WIDTH, SEEDING, dedup, False
                ),
                warmup=2,
                iters=10,
            )
            rate = SCORE_TOKENS / ms / 1e3
            rows.append(
                f"| score_gumbel | {backend} | {SCORE_TOKENS} | {dedup} | {ms:.3f} | {rate:.0f} |"
            )


if __name__ == "__main__":
    run_scheme_bench("Gumbel", __doc__, BACKEND_MODULES, (bench_sample, bench_score))
