"""What the public operations share: backend resolution and the normalisation of ragged
scoring inputs and per-row keys for the host and the GPU backends."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends
from .._validate import (
    check_ragged_host,
    check_uniforms,
    host_array,
    is_cuda,
    is_torch,
    key_rows,
)
from ..reference.gumbel import NO_FINITE_LOGIT

ArrayLike = Any  # a numpy array, a torch tensor (host or CUDA), or a nested list
UINT32_MAX = 0xFFFFFFFF


def uint64_keys(keys: ArrayLike, most: int, shape: str) -> np.ndarray:
    """A dialect's secret keys: uint64 ``[1 .. most]``, C-contiguous; ``shape`` says so in the
    error, which shows no value."""
    k = host_array(keys, "keys")
    if k.dtype != np.uint64 or k.ndim != 1 or not 1 <= k.shape[0] <= most:
        raise ValueError(f"keys: expected uint64 {shape}")
    return np.ascontiguousarray(k)


def resolve(
    op: str, backend: str, on_cuda: bool, large_fp32_bias: bool = False, prefer_triton: bool = False
):
    name = backends.resolve(backend, on_cuda, large_fp32_bias, prefer_triton)
    return name, backends.get(op, name)


def resolve_host(op: str, backend: str):
    """For the host-only operations (the dialects): ``auto`` is ``cpu`` even where
    ``TOKENMARK_BACKEND`` names a GPU backend, whose operations these have not."""
    if backend != "auto":
        name = backends.resolve(backend, False)
        return name, backends.get(op, name)
    env = backends.env_backend()
    name = env if env in backends.HOST_BACKENDS else "cpu"
    return name, backends.get(op, name)


def cuda_available() -> bool:
    """Whether tokenmark's CUDA kernels and a device are here (the ``auto`` rule of the dialects
    that have a CUDA scorer: CUDA input stays on its device, else it is copied to the host)."""
    try:
        from ..backends.cuda._common import available
    except ImportError:  # no torch
        return False
    return available()


def no_finite_rows(out: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero(out == NO_FINITE_LOGIT)
    if bad.size:
        raise ValueError(f"logits: row {int(bad[0])} has no finite entry to sample")
    return out


def host_scoring(tokens, offsets, prefix_lengths, backend: str = ""):
    """Host arrays of a ragged scoring call, checked once, with prefixes clamped to document
    lengths (see :func:`tokenmark._validate.check_ragged_host`). The C++ scorers check int32 ids
    themselves (a negative one is refused there, with the argument named), so for the ``cpu``
    backend the ids of an int32 array are not read a second time here."""
    return check_ragged_host(tokens, offsets, prefix_lengths, check_int32_ids=backend != "cpu")


def device_scoring(tokens, offsets, prefix_lengths):
    from ..backends import _torch

    tok = _torch.as_tensor(tokens)
    off = _torch.on_device(offsets, np.int64, tok.device)
    return tok, off, _torch.device_prefix(prefix_lengths, off)


def dialect_scoring(op: str, backend: str, tokens, offsets, prefix_lengths):
    """``(fn, tokens, offsets, prefix)`` of a dialect's scoring op: CUDA tensors go to its CUDA
    backend (``auto`` or ``cuda``) as tensors on their device, host data to the host backends
    (:func:`resolve_host`) as checked arrays."""
    if is_cuda(tokens):
        return resolve(op, backend, True)[1], *device_scoring(tokens, offsets, prefix_lengths)
    return resolve_host(op, backend)[1], *host_scoring(tokens, offsets, prefix_lengths)


def call_scoring(
    op: str, backend: str, tokens, offsets, prefix_lengths, words, *args, want_words=None
):
    """Resolve the scoring operation ``op`` for ``tokens`` and call it on the ragged batch in
    that backend's form (tensors on the tokens' device for a GPU backend, checked host arrays
    otherwise), the key words, then ``args``; ``want_words`` (a bool, for the ops that take it)
    goes to the host backends only, and True refuses a GPU backend."""
    name, fn = resolve(op, backend, is_cuda(tokens))
    if name in backends.GPU_BACKENDS:
        require_host_words(want_words, name)
        tok, off, pre = device_scoring(tokens, offsets, prefix_lengths)
        return fn(tok, off, pre, tuple(int(w) for w in words), *args)
    tok, off, pre = host_scoring(tokens, offsets, prefix_lengths, name)
    return fn(tok, off, pre, words, *args, *(() if want_words is None else (want_words,)))


def require_host_words(want_words: bool, backend: str) -> None:
    """The per-token PRF words (``want_words``) come from the host backends only."""
    if want_words:
        raise ValueError(
            f"want_words: the per-token words come from the host backends (cpu, reference), "
            f"not {backend}; pass host token ids or backend='cpu'"
        )


def key_rows_or_tensor(keys, batch: int):
    """Key words for a GPU call: a prepared device tensor as is, else checked host words."""
    return keys if is_torch(keys) else key_rows(keys, batch)


uniforms_rows = check_uniforms
