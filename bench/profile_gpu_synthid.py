"""Per-kernel device times of one CUDA SynthID sampling call (torch.profiler / CUPTI), to see
where a call's time goes. Usage::

    python bench/profile_gpu_synthid.py
    # Time per call against the candidates per block of a pass (the tokens must not change):
    python bench/profile_gpu_synthid.py --chunks 0,1024,2048,4096,8192,16384
    # Where a launch's time goes, from stamps each block takes at its stages (the global timer
    # and the SM's cycle counter; a build of the kernels with the stamps, used only here):
    python bench/profile_gpu_synthid.py --stages
    # Hardware counters of one call's passes (bench/gpu_check.sh, step ncu): no torch profiler,
    # 5 warm-up calls (20 pass launches to skip) and one call, for one shape
    ncu --clock-control none --kernel-name regex:pass_kernel --launch-skip 20 --launch-count 4 \\
        python bench/profile_gpu_synthid.py --ncu 32x128256
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tokenmark import _cuda
from tokenmark.backends.cuda import synthid as cuda_synthid
from torch.profiler import ProfilerActivity, profile

CALLS = 10
WARMUP = 5
SHAPES = ((1, 32000), (8, 128256), (32, 128256))
# The sweep covers the bench's six shapes: the best chunk may depend on the batch.
SWEEP_SHAPES = tuple((b, v) for v in (32000, 128256) for b in (1, 8, 32))


def sampler(batch: int, vocab: int, chunk: int = 0, dtype: torch.dtype = torch.float32,
            stage_times: torch.Tensor | None = None):  # fmt: skip
    """A call of the CUDA sampler on fresh device inputs (30 layers, full vocabulary)."""
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    logits = (torch.randn(batch, vocab, device=dev, generator=gen) * 3).to(dtype)
    ids = torch.randint(0, vocab, (batch, 64), device=dev, generator=gen)
    keys = torch.randint(-(2**31), 2**31 - 1, (batch, 4), device=dev, generator=gen,
                         dtype=torch.int32)  # fmt: skip
    u = torch.rand(batch, device=dev, generator=gen, dtype=torch.float64)
    return lambda: cuda_synthid._sample(logits, ids, keys, u, None, 4, 0, 30, 0, 1024,
                                        torch_top_k=False, chunk=chunk,
                                        stage_times=stage_times)  # fmt: skip


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


STAGE_SHAPES = SWEEP_SHAPES
LAYERS = 30


def stage_report(batch: int, vocab: int, reps: int = 20) -> None:
    """One table per shape (bfloat16 logits, the default chunk): for each launch, the medians
    over ``reps`` calls of its span (first block's entry to the last stamp), how far apart its
    blocks enter (waves), the per-block stages (medians over blocks, from the SM cycle counter,
    converted at the clock the stamps show), the row's last block's tail, and the gap to the next
    launch's first entry."""
    shape = _cuda.sample_synthid_stage_shape(batch, vocab, LAYERS, 0)
    times = torch.zeros(shape, dtype=torch.int64, device="cuda")
    call = sampler(batch, vocab, 0, torch.bfloat16, times)
    plain = sampler(batch, vocab, 0, torch.bfloat16)
    rows, clocks = [], []
    for _ in range(WARMUP):
        call()
    for _ in range(reps):
        call()
        torch.cuda.synchronize()
        per_launch, ghz = launch_stages(times.cpu().numpy())
        rows.append(per_launch)
        clocks.append(ghz)
    med = np.median(np.array(rows), axis=0)  # [launches, columns]
    print(
        f"\n### {batch} x {vocab}: stages per launch (us; medians of {reps} calls; SM clock "
        f"{np.median(clocks):.2f} GHz from the stamps; call {timed(call, reps):.3f} ms with "
        f"stamps, {timed(plain, reps):.3f} ms without)"
    )
    print("| launch | blocks | span | entry spread | prologue | candidates | flush + count | "
          "tail | gap to next |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(med):
        name = "setup" if i == 0 else (f"pass {i - 1}" if i < len(med) - 1 else "draw")
        print(f"| {name} | {r[0]:.0f} | " + " | ".join(f"{v:.1f}" for v in r[1:]) + " |")


def launch_stages(t: np.ndarray) -> tuple[np.ndarray, float]:
    """Per launch of one call's stamps ``t`` [launches, rows, chunks, stages, {ns, clock}]:
    blocks, span, entry spread, median prologue / candidates / flush + count, tail (the slowest
    row's), gap to the next launch, times in us; and the SM clock in GHz that converts the
    cycle counts. Stages a block did not reach are 0."""
    ns, clk = t[..., 0].astype(np.float64), t[..., 1].astype(np.float64)
    entered = ns[..., 0] > 0  # [launches, rows, chunks]
    # The SM clock: cycles over ns of every block's entry-to-last-stamp interval, pooled (the
    # global timer may tick in steps of up to a microsecond; the pooled sums average them out).
    dn, dc = ns.max(axis=-1) - ns[..., 0], clk.max(axis=-1) - clk[..., 0]
    ok = entered & (dn > 0)
    ghz = float(dc[ok].sum() / dn[ok].sum()) if ok.any() else float("nan")
    out = []
    for launch in range(t.shape[0]):
        e = entered[launch]
        first, last = ns[launch, ..., 0][e].min(), ns[launch, ..., 0][e].max()
        end = ns[launch].reshape(-1)[ns[launch].reshape(-1) > 0].max()

        def stage(a: int, b: int) -> float:
            c = clk[launch]
            m = e & (c[..., a] > 0) & (c[..., b] > 0)
            return float(np.median(c[..., b][m] - c[..., a][m])) / ghz / 1e3 if m.any() else 0.0

        tails = clk[launch, ..., 4] - clk[launch, ..., 3]
        tail = (
            float(tails[clk[launch, ..., 4] > 0].max()) / ghz / 1e3
            if (clk[launch, ..., 4] > 0).any()
            else 0.0
        )
        nxt = ns[launch + 1, ..., 0] if launch + 1 < t.shape[0] else None
        gap = (nxt[nxt > 0].min() - end) / 1e3 if nxt is not None and (nxt > 0).any() else 0.0
        # the setup kernel has no prologue: its candidates run from entry
        cands = stage(1, 2) if (clk[launch, ..., 1] > 0).any() else stage(0, 2)
        out.append([e.sum(), (end - first) / 1e3, (last - first) / 1e3, stage(0, 1), cands,
                    stage(2, 3), tail, gap])  # fmt: skip
    return np.array(out), ghz


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
    p.add_argument("--stages", action="store_true", help="per-launch stage times from stamps")
    args = p.parse_args()
    if args.stages:
        for batch, vocab in STAGE_SHAPES:
            stage_report(batch, vocab)
        return
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
