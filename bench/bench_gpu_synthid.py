"""GPU benchmark of the SynthID-Text operations against same-run baselines (about 30 s on an H100).

sample_synthid (30 layers, whole vocabulary and top-k 40): one decode step's token for [batch,
vocab] logits, against (a) the unwatermarked sampler it replaces,
``torch.multinomial(torch.softmax(logits.float(), -1), 1)``, and (b) transformers'
``SynthIDTextWatermarkLogitsProcessor`` (ngram_len 5 = context 4, 30 keys, context history 1024)
followed by that same softmax + multinomial, which is what ``generate`` runs with it; all on the
same logits and the same GPU. tokenmark is timed as called (eager: its Python wrapper and its
5 launches included) and as a replayed CUDA graph (the GPU's time, as in a graph-captured decode
loop). With top-k 40 the CUDA backend picks the candidates with its own kernel
(csrc/cuda/top_k.cuh); the row ``cuda (torch top-k)`` times the same sampler fed by the torch ops
it replaced (``top_k_candidates`` and a gather; the Triton backend still uses them), and the
``top-k pick alone`` lines the two pickers by themselves. Goal (issue 15): top-k 40 at <= 1.5x
the softmax + multinomial floor. score_synthid: tokens/s on 10^7 tokens in documents of 1000,
with and without dedup. Each backend named by ``--backends`` (the CUDA kernels, the Triton
kernels) is timed in the same run. Timing: CUDA events around each call after warm-up; medians.
Usage::

    python bench/bench_gpu_synthid.py --backends cuda,triton --out gpu_out/gpu_results.md
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

SAMPLE_BATCHES = (1, 8, 32)
SAMPLE_VOCABS = (32000, 128256)
LAYERS = 30
WIDTH, SEEDING, HISTORY = 4, 0, 1024
# The modules whose sample_synthid / score_synthid take the same arguments.
BACKEND_MODULES = {
    "cuda": "tokenmark.backends.cuda.synthid",
    "triton": "tokenmark.backends.triton.synthid",
}


def hf_step(batch: int, dev: torch.device):
    """transformers' SynthID processor plus the sampling generate does after it, or None."""
    try:
        from transformers import SynthIDTextWatermarkLogitsProcessor
    except ImportError:
        return None
    proc = SynthIDTextWatermarkLogitsProcessor(
        ngram_len=WIDTH + 1,
        keys=list(range(654, 654 + LAYERS)),
        sampling_table_size=2**16,
        sampling_table_seed=0,
        context_history_size=HISTORY,
        device=dev,
    )

    def step(ids, logits, gen):
        scores = proc(ids, logits.clone())
        return torch.multinomial(torch.softmax(scores.float(), -1), 1, generator=gen)

    return step


def graph_ms(fn) -> float:
    """Median time of one replay of ``fn`` captured in a CUDA graph."""
    fn()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return median_ms(graph.replay)


def torch_top_k_module():
    """The CUDA sampler fed by the torch top-k ops (the path before the top-k kernel), as a
    module-like object with ``sample_synthid``."""
    from types import SimpleNamespace

    from tokenmark.backends.cuda import synthid as cuda_synthid

    def sample_synthid(*args):
        return cuda_synthid._sample(*args, torch_top_k=True)

    return SimpleNamespace(sample_synthid=sample_synthid)


def top_k_pick_ms(logits: torch.Tensor, k: int) -> tuple[float, float]:
    """(the top-k kernel, the torch ops) picking the candidates of ``logits``, ms each."""
    from tokenmark import _cuda
    from tokenmark.backends._torch import top_k_candidates

    batch, vocab = logits.shape
    cand = torch.empty(batch, k, dtype=torch.int32, device=logits.device)
    values = torch.empty(batch, k, dtype=torch.float32, device=logits.device)
    stream = torch.cuda.current_stream(logits.device).cuda_stream
    size = _cuda.top_k_workspace_bytes(batch, vocab, k)
    scratch = torch.empty(max(size, 1), dtype=torch.uint8, device=logits.device)

    def kernel():
        _cuda.top_k_candidates(
            logits.data_ptr(), batch, vocab, logits.stride(0), 0, k, cand.data_ptr(),
            values.data_ptr(), scratch.data_ptr(), size, logits.device.index, stream,
        )  # fmt: skip

    def ops():
        ids = top_k_candidates(logits, k)
        return torch.gather(logits, 1, ids.to(torch.int64))

    return median_ms(kernel), median_ms(ops)


def bench_sample(backends: dict[str, object], rows: list[str]) -> None:
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    rows += [
        "| op | backend | batch | vocab | top_k | tokenmark ms | graph ms | softmax+multinomial ms "
        "| ratio | transformers ms | speed-up (eager) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    picks = []
    for vocab in SAMPLE_VOCABS:
        for batch in SAMPLE_BATCHES:
            logits = torch.randn(batch, vocab, device=dev, generator=gen) * 3
            ids = torch.randint(0, vocab, (batch, 64), device=dev, generator=gen)
            keys = torch.randint(-(2**31), 2**31 - 1, (batch, 4), device=dev, generator=gen,
                                 dtype=torch.int32)  # fmt: skip
            u = torch.rand(batch, device=dev, generator=gen, dtype=torch.float64)
            floor = median_ms(
                lambda: torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen)
            )
            hf = hf_step(batch, dev)
            hf_ms = median_ms(lambda: hf(ids, logits, gen), warmup=2, iters=5) if hf else None
            for top_k in (0, 40):
                timed = dict(backends)
                if top_k and "cuda" in backends:
                    timed["cuda (torch top-k)"] = torch_top_k_module()
                    kernel_ms, ops_ms = top_k_pick_ms(logits, top_k)
                    picks.append(
                        f"- top-k pick alone, batch {batch}, vocab {vocab}, k {top_k}: kernel "
                        f"{kernel_ms:.4f} ms, torch ops {ops_ms:.4f} ms"
                    )
                for backend, mod in timed.items():

                    def call(mod=mod, top_k=top_k):
                        return mod.sample_synthid(
                            logits, ids, keys, u, None, WIDTH, SEEDING, LAYERS, top_k, HISTORY
                        )

                    ms, gms = median_ms(call), graph_ms(call)
                    peer = f"{hf_ms:.2f} | {hf_ms / ms:.0f}x" if hf_ms and top_k == 0 else "- | -"
                    rows.append(
                        f"| sample_synthid | {backend} | {batch} | {vocab} | {top_k} | {ms:.4f} "
                        f"| {gms:.4f} | {floor:.4f} | {ms / floor:.2f} | {peer} |"
                    )
    rows += ["", *picks, ""]
    if hf_step(1, dev) is None:
        rows.append("\ntransformers SynthIDTextWatermarkLogitsProcessor skipped: not importable\n")


bench_score = score_step(
    "score_synthid", SCORE_TOKENS, SCORE_DOC_LEN, lambda dev: (WIDTH, SEEDING, LAYERS)
)


bench_detect = detect_step("SynthID", DETECT_TOKENS, SCORE_DOC_LEN)


if __name__ == "__main__":
    run_scheme_bench(
        "SynthID-Text", __doc__, BACKEND_MODULES, (bench_sample, bench_score, bench_detect)
    )
