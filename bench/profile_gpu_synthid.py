"""Per-kernel device times of one CUDA SynthID sampling call (torch.profiler / CUPTI), to see
where a call's time goes. Usage::

    python bench/profile_gpu_synthid.py
    # Time per call against the candidates per block of a pass (the tokens must not change):
    python bench/profile_gpu_synthid.py --chunks 0,1024,2048,4096,8192,16384
    # Hardware counters of one call's passes (bench/gpu_check.sh, step ncu): no torch profiler,
    # 5 warm-up calls (20 pass launches to skip) and one call, for one shape
    ncu --clock-control none --kernel-name regex:pass_kernel --launch-skip 20 --launch-count 4 \\
        python bench/profile_gpu_synthid.py --ncu 32x128256
"""

from __future__ import annotations

import argparse

import torch
from tokenmark.backends.cuda import synthid as cuda_synthid
from torch.profiler import ProfilerActivity, profile

CALLS = 10
WARMUP = 5
SHAPES = ((1, 32000), (8, 128256), (32, 128256))
# The sweep covers the bench's six shapes: the best chunk may depend on the batch.
SWEEP_SHAPES = tuple((b, v) for v in (32000, 128256) for b in (1, 8, 32))


def sampler(batch: int, vocab: int, chunk: int = 0, dtype: torch.dtype = torch.float32):
    """A call of the CUDA sampler on fresh device inputs (30 layers, full vocabulary)."""
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    logits = (torch.randn(batch, vocab, device=dev, generator=gen) * 3).to(dtype)
    ids = torch.randint(0, vocab, (batch, 64), device=dev, generator=gen)
    keys = torch.randint(-(2**31), 2**31 - 1, (batch, 4), device=dev, generator=gen,
                         dtype=torch.int32)  # fmt: skip
    u = torch.rand(batch, device=dev, generator=gen, dtype=torch.float64)
    return lambda: cuda_synthid._sample(logits, ids, keys, u, None, 4, 0, 30, 0, 1024,
                                        torch_top_k=False, chunk=chunk)  # fmt: skip


def chunk_sweep(chunks: list[int], reps: int = 50) -> None:
    """Median time per call for each chunk (0: the default), per shape, beside softmax +
    multinomial (the plain-sampling floor, as bench_gpu_synthid.py times it); bfloat16 logits
    as in that bench; every chunk must draw chunk 0's tokens."""
    print("| batch x vocab | floor ms | " + " | ".join(f"chunk {c or 'default'} ms" for c in chunks)
          + " |")  # fmt: skip
    print("|---|---|" + "---|" * len(chunks))
    for batch, vocab in SWEEP_SHAPES:
        logits = (torch.randn(batch, vocab, device="cuda") * 3).bfloat16()
        row = [
            f"{batch} x {vocab}",
            f"{timed(lambda: torch.multinomial(torch.softmax(logits.float(), -1), 1), reps):.3f}",
        ]
        want = None
        for c in chunks:
            call = sampler(batch, vocab, c, torch.bfloat16)
            tokens = call()[0]
            want = tokens if want is None else want
            assert torch.equal(tokens, want), f"chunk {c} drew other tokens at {batch} x {vocab}"
            row.append(f"{timed(call, reps):.3f}")
        print("| " + " | ".join(row) + " |", flush=True)


def timed(fn, reps: int) -> float:
    """Median of ``reps`` calls in ms (CUDA events), after 5 warm-up calls."""
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ncu", metavar="BxV", help="one shape, no torch profiler: for Nsight Compute")
    p.add_argument("--chunks", help="comma-separated candidates per block to time (0: default)")
    args = p.parse_args()
    if args.chunks:
        chunk_sweep([int(c) for c in args.chunks.split(",")])
        return
    if args.ncu:
        batch, vocab = (int(v) for v in args.ncu.lower().split("x"))
        call = sampler(batch, vocab)
        for _ in range(WARMUP + 1):
            call()
        torch.cuda.synchronize()
        return
    for batch, vocab in SHAPES:
        call = sampler(batch, vocab)
        for _ in range(WARMUP):
            call()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(CALLS):
                call()
            torch.cuda.synchronize()
        print(f"\n## batch {batch}, vocab {vocab}: {CALLS} calls")
        print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=9,
                                        max_name_column_width=40))  # fmt: skip


if __name__ == "__main__":
    main()
