"""Tensor helpers shared by the Triton tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import numpy as np
import torch


def as_i32(words) -> torch.Tensor:
    """uint32 values as the int32 tensor with the same bits (what the kernels take)."""
    arr = np.ascontiguousarray(np.asarray(words, dtype=np.uint32))
    if not arr.flags.writeable:  # torch warns on read-only memory (a Key's words are read-only)
        arr = arr.copy()
    return torch.from_numpy(arr.view(np.int32))


def host_logits(logits: torch.Tensor) -> tuple[np.ndarray, str]:
    """Host logits as the reference and ``_C`` take them (bfloat16 as its int16 bits)."""
    dtype = str(logits.dtype).removeprefix("torch.")
    host = logits.cpu().contiguous()
    return (host.view(torch.int16).numpy() if dtype == "bfloat16" else host.numpy()), dtype


def random_logits(batch: int, vocab: int, dtype, gen, finite_peak: bool = False) -> torch.Tensor:
    """Normal logits with some -inf and NaN entries and a tie of equal logits in each row (top-k
    takes the lower id first); with ``finite_peak`` also a logit of 8 mid-row, so that every row
    has a finite entry."""
    x = torch.randn(batch, vocab, generator=gen) * 3
    if vocab > 1 and batch > 0:
        n = max(1, batch * vocab // 40)
        flat = x.view(-1)
        flat[torch.randint(0, flat.numel(), (n,), generator=gen)] = -float("inf")
        flat[torch.randint(0, flat.numel(), (n,), generator=gen)] = float("nan")
        x[:, min(5, vocab - 1)] = x[:, 0]
    if finite_peak:
        x[:, vocab // 2] = 8.0
    return x.to(dtype)
