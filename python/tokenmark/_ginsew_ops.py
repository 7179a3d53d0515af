"""Dispatch of the GINSEW embedding op, ``apply_ginsew_`` (reference / cpu / cuda / triton).

Follows ``ops.apply_kgw_bias_``: host logits go to the C++ kernel (or the numpy reference),
CUDA tensors to the CUDA kernel (or Triton), and per-row parameters come as scalar-or-array.
"""

from __future__ import annotations

import numpy as np

from .ops import _host_view, _is_torch, _resolve_backend, _row_params
from .reference import ginsew as _ref


def _check_params(eps: np.ndarray, freq: np.ndarray, frac: np.ndarray) -> None:
    if eps.size and (not np.isfinite(eps).all() or (eps < 0).any()):
        raise ValueError("epsilon: must be finite and >= 0")
    if freq.size and not np.isfinite(freq).all():
        raise ValueError("frequency: must be finite")
    if frac.size and (not np.isfinite(frac).all() or (frac <= 0).any() or (frac >= 1).any()):
        raise ValueError("fraction: must be in the open interval (0, 1)")


def _check_width_position(context_width: int, position: int | None) -> tuple[int, int]:
    """The kernels' (width, position) pair: position -1 means the last ``width`` ids."""
    if isinstance(context_width, bool) or int(context_width) != context_width:
        raise TypeError("context_width: must be an int")
    if not 1 <= int(context_width) <= 1024:
        raise ValueError(f"context_width: must be in [1, 1024], got {context_width}")
    if position is None:
        return int(context_width), -1
    if isinstance(position, bool) or int(position) != position or position < 0:
        raise ValueError(f"position: must be None or an int >= 0, got {position}")
    return int(context_width), int(position)


def thresholds_of(fraction) -> np.ndarray:
    """uint32 ``floor(fraction * 2^32)`` per row (the group test the kernels run)."""
    frac = np.atleast_1d(np.asarray(fraction, dtype=np.float64))
    return np.array([_ref.fraction_threshold(f) for f in frac], dtype=np.uint32)


def apply_ginsew_(
    logits,
    input_ids,
    *,
    key,
    epsilon,
    frequency,
    context_width: int,
    fraction,
    enabled=None,
    position: int | None = None,
    backend: str = "auto",
):
    """Replace ``logits`` by the GINSEW-perturbed log-probabilities, in place; return ``logits``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16).
    input_ids : ``[batch, length]`` integer ids; each row's time comes from its last
        ``context_width`` ids (or the id at ``position``).
    key : uint32 key words ``[4]`` or ``[batch, 4]`` (:attr:`tokenmark.Key.words`).
    epsilon, frequency, fraction : scalars or ``[batch]`` (``frequency`` in radians).
    enabled : bool ``[batch]`` or None; disabled rows are only normalised (``log_softmax``).
    position : None (the context) or the index of the one id that sets the time
        (``t_source="prompt_position"``).

    Most users call :meth:`tokenmark.GINSEW.apply_` or its logits processor.

    Example
    -------
    >>> import numpy as np, tokenmark as tm
    >>> x = np.zeros((1, 8), dtype=np.float32)
    >>> _ = tm.apply_ginsew_(x, np.array([[3, 1]]), key=tm.Key(b"k").words, epsilon=0.2,
    ...                      frequency=16.0, context_width=1, fraction=0.5)
    >>> bool(abs(np.exp(x.astype(np.float64)).sum() - 1) < 1e-6)
    True
    """
    width, pos = _check_width_position(context_width, position)
    on_cuda = _is_torch(logits) and logits.is_cuda
    backend = _resolve_backend(backend, on_cuda)
    if backend in ("cuda", "triton"):
        raise NotImplementedError(f"apply_ginsew_: the {backend} backend is not written yet")
    arr, dtype = _host_view(logits, "logits")
    if arr.ndim != 2:
        raise ValueError(f"logits: expected [batch, vocab], got shape {arr.shape}")
    batch = arr.shape[0]
    ids = input_ids.cpu().numpy() if _is_torch(input_ids) else np.asarray(input_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"input_ids: expected integer token ids, got dtype {ids.dtype}")
    if ids.dtype not in (np.int32, np.int64):
        ids = ids.astype(np.int64)
    if ids.ndim != 2 or ids.shape[0] != batch:
        raise ValueError(f"input_ids: expected shape [{batch}, length], got {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= 2**31):
        raise ValueError("input_ids: token ids must be in [0, 2^31)")
    k = _row_params(key, np.uint32, batch, "key", 4)
    eps = _row_params(epsilon, np.float64, batch, "epsilon")
    freq = _row_params(frequency, np.float64, batch, "frequency")
    frac = _row_params(fraction, np.float64, batch, "fraction")
    _check_params(eps, freq, frac)
    en = None if enabled is None else _row_params(enabled, np.uint8, batch, "enabled")
    if en is not None and en.shape[0] != batch:
        en = np.broadcast_to(en, (batch,)).copy()
    if backend == "reference":
        out = _ref.apply_ginsew(
            arr,
            ids,
            k,
            eps,
            freq,
            width,
            frac,
            enabled=en,
            position=None if pos < 0 else pos,
            dtype=dtype,
        )
        if dtype == "bfloat16":
            arr[...] = _f32_to_bf16_bits(out).view(arr.dtype)
        else:
            arr[...] = out.astype(arr.dtype)
        return logits
    from . import _C

    _C.apply_ginsew_(arr, dtype, ids, k, thresholds_of(frac), eps, freq, en, width, pos)
    return logits


def _f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even to bfloat16 bit patterns; NaN stays a (quiet) NaN."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), r)
