"""What the public operations share: backend resolution and the normalisation of ragged
scoring inputs and per-row keys for the host and the GPU backends."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends
from .._validate import (
    clamp_prefix,
    is_torch,
    key_rows,
    to_host,
)
from ..reference.gumbel import NO_FINITE_LOGIT

ArrayLike = Any  # a numpy array, a torch tensor (host or CUDA), or a nested list
UINT32_MAX = 0xFFFFFFFF


def resolve(op: str, backend: str, on_cuda: bool, large_fp32_bias: bool = False):
    name = backends.resolve(backend, on_cuda, large_fp32_bias)
    return name, backends.get(op, name)


def no_finite_rows(out: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero(out == NO_FINITE_LOGIT)
    if bad.size:
        raise ValueError(f"logits: row {int(bad[0])} has no finite entry to sample")
    return out


def host_scoring(tokens, offsets, prefix_lengths):
    """Host arrays of a ragged scoring call, with prefixes clamped to document lengths."""
    tok, off = np.asarray(to_host(tokens)), np.asarray(to_host(offsets))
    pre = prefix_lengths
    if pre is not None:
        pre = to_host(pre)
        if isinstance(pre, np.ndarray) and pre.dtype == np.int64:
            pre = clamp_prefix(pre, off)
    return tok, off, pre


def device_scoring(tokens, offsets, prefix_lengths):
    from ..backends import _torch

    tok = _torch.as_tensor(tokens)
    off = _torch.on_device(offsets, np.int64, tok.device)
    return tok, off, _torch.device_prefix(prefix_lengths, off)


def key_rows_or_tensor(keys, batch: int):
    """Key words for a GPU call: a prepared device tensor as is, else checked host words."""
    return keys if is_torch(keys) else key_rows(keys, batch)


def uniforms_rows(uniforms, batch: int) -> np.ndarray:
    u = uniforms.cpu().numpy() if is_torch(uniforms) else uniforms
    try:
        u = np.ascontiguousarray(np.asarray(u, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError):
        raise TypeError("uniforms: expected floats in [0, 1), one per row") from None
    if u.shape != (batch,):
        raise ValueError(f"uniforms: expected shape [{batch}], got {u.shape}")
    if u.size and not ((u >= 0) & (u < 1)).all():
        raise ValueError("uniforms: must be in [0, 1)")
    return u
