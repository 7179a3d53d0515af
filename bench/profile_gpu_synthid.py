"""Per-kernel device times of one CUDA SynthID sampling call (torch.profiler / CUPTI), to see
where a call's time goes. Usage::

    python bench/profile_gpu_synthid.py
"""

from __future__ import annotations

import torch
from tokenmark.backends.cuda import synthid as cuda_synthid
from torch.profiler import ProfilerActivity, profile

CALLS = 10


def main() -> None:
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    for batch, vocab in ((1, 32000), (8, 128256), (32, 128256)):
        logits = torch.randn(batch, vocab, device=dev, generator=gen) * 3
        ids = torch.randint(0, vocab, (batch, 64), device=dev, generator=gen)
        keys = torch.randint(-(2**31), 2**31 - 1, (batch, 4), device=dev, generator=gen,
                             dtype=torch.int32)  # fmt: skip
        u = torch.rand(batch, device=dev, generator=gen, dtype=torch.float64)

        def call():
            return cuda_synthid.sample_synthid(logits, ids, keys, u, None, 4, 0, 30, 0, 1024)

        for _ in range(5):
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
