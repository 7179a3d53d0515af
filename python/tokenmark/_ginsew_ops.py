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
    thresholds=None,
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
    thresholds : None, or the group thresholds ``floor(fraction * 2^32)`` already made (uint32
        ``[batch or 1]``, or its int32 bits in a CUDA tensor): the logits processor passes a
        device copy so that a decode step copies nothing from the host. Overrides ``fraction``.

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
        return _apply_gpu(
            logits,
            input_ids,
            key,
            epsilon,
            frequency,
            fraction,
            enabled,
            width,
            pos,
            backend,
            thresholds,
        )
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
    if np.size(key) == 0 or np.size(key) % 4:
        raise ValueError("key: expected key words of shape [4] or [batch, 4]")
    k = _row_params(key, np.uint32, batch, "key", 4)
    eps = _row_params(epsilon, np.float64, batch, "epsilon")
    freq = _row_params(frequency, np.float64, batch, "frequency")
    if thresholds is None:
        frac = _row_params(fraction, np.float64, batch, "fraction")
        _check_params(eps, freq, frac)
        thr = thresholds_of(frac)
    else:
        th = np.asarray(thresholds)
        thr = _row_params(
            th.view(np.uint32) if th.dtype == np.int32 else th, np.uint32, batch, "thresholds"
        )
        if (thr == 0).any():
            raise ValueError("thresholds: must be > 0")
        _check_params(eps, freq, np.zeros(0))
        frac = thr / 2.0**32  # exact: fraction_threshold(thr / 2^32) == thr
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

    _C.apply_ginsew_(arr, dtype, ids, k, thr, eps, freq, en, width, pos)
    return logits


def _f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even to bfloat16 bit patterns; NaN stays a (quiet) NaN."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), r)


def _apply_gpu(
    logits, input_ids, key, epsilon, frequency, fraction, enabled, width, pos, backend, thresholds
):
    """The CUDA and Triton paths: torch tensors (CUDA, or CPU under the Triton interpreter).

    Parameters already on the logits' device (the processor caches them there) are used as they
    are, and then not inspected: reading device values would synchronise with the host.
    """
    import torch

    from ._torch_checks import check_logits_rows, row_param_stride

    t = logits if _is_torch(logits) else torch.from_numpy(logits)
    ids = input_ids if _is_torch(input_ids) else torch.from_numpy(np.asarray(input_ids))
    dev = t.device
    batch, vocab = check_logits_rows(
        t, ids, enabled, (torch.float32, torch.float16, torch.bfloat16)
    )

    def param(v, dtype, name, w=1):
        if isinstance(v, torch.Tensor) and v.device == dev and dev.type == "cuda":
            return v
        if isinstance(v, torch.Tensor):
            v = v.cpu().numpy()
        if name == "key" and (np.size(v) == 0 or np.size(v) % 4):
            raise ValueError("key: expected key words of shape [4] or [batch, 4]")
        host = _row_params(v, dtype, batch, name, w)
        if name == "thresholds" and (host == 0).any():
            raise ValueError("thresholds: must be > 0")
        if name in ("epsilon", "frequency"):
            _check_params(
                host if name == "epsilon" else np.zeros(0),
                host if name == "frequency" else np.zeros(0),
                np.zeros(0),
            )
        arr = host.view(np.int32) if dtype == np.uint32 else host
        # A copy: the host arrays may be read-only (a Key's words), which torch warns about.
        return torch.from_numpy(np.array(arr, copy=True)).to(dev)

    if thresholds is None:
        if isinstance(fraction, torch.Tensor):
            fraction = fraction.cpu().numpy()
        frac = _row_params(fraction, np.float64, batch, "fraction")
        _check_params(np.zeros(0), np.zeros(0), frac)
        thresholds = thresholds_of(frac)
    thr = param(thresholds, np.uint32, "thresholds")
    keys = param(key, np.uint32, "key", 4)
    eps = param(epsilon, np.float64, "epsilon")
    freq = param(frequency, np.float64, "frequency")
    en = None
    if enabled is not None:
        en = (
            enabled
            if isinstance(enabled, torch.Tensor)
            else torch.from_numpy(np.ascontiguousarray(np.asarray(enabled, dtype=np.uint8)))
        )
        en = en.to(dev).view(torch.uint8) if en.dtype == torch.bool else en.to(dev)
    strides = (
        row_param_stride(keys, "key", dev, torch.int32, batch, 4),
        row_param_stride(thr, "thresholds", dev, torch.int32, batch),
        row_param_stride(eps, "epsilon", dev, torch.float64, batch),
        row_param_stride(freq, "frequency", dev, torch.float64, batch),
    )
    if dev.type == "cpu" and ids.numel():
        need = ids[:, max(0, ids.shape[1] - width) :] if pos < 0 else ids[:, pos:]
        if need.numel() and (int(need.min()) < 0 or int(need.max()) >= 2**31):
            raise ValueError("input_ids: token ids must be in [0, 2^31)")
    if batch == 0 or vocab == 0:
        return logits
    if backend == "triton":
        _launch_triton(t, ids, keys, thr, eps, freq, en, width, pos, strides)
    else:
        from . import _cuda

        code = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}[t.dtype]
        _cuda.apply_ginsew_(
            t.data_ptr(),
            batch,
            vocab,
            t.stride(0),
            code,
            ids.data_ptr(),
            ids.dtype == torch.int64,
            ids.shape[1],
            ids.stride(0),
            keys.data_ptr(),
            strides[0],
            thr.data_ptr(),
            strides[1],
            eps.data_ptr(),
            strides[2],
            freq.data_ptr(),
            strides[3],
            0 if en is None else en.data_ptr(),
            width,
            pos,
            dev.index if dev.index is not None else torch.cuda.current_device(),
            torch.cuda.current_stream(dev).cuda_stream,
        )
    return logits


# Row blocks: the compiled kernel loops over the row in blocks of this many ids; the interpreter
# takes the largest power of two up to the vocabulary (fewest steps).
_TRITON_BLOCK = 2048
_INTERPRETER_BLOCK = 16384


def _launch_triton(t, ids, keys, thr, eps, freq, en, width, pos, strides):
    import importlib

    from triton.runtime.interpreter import InterpretedFunction

    kernel = importlib.import_module("tokenmark.kernels.ginsew_bias").ginsew_bias_kernel
    interpreted = isinstance(kernel, InterpretedFunction)
    if t.device.type != "cuda" and not interpreted:
        raise ValueError(
            "logits: the triton backend runs on CUDA tensors, or on CPU tensors only under the "
            "Triton interpreter (TRITON_INTERPRET=1 set before tokenmark.kernels is imported)"
        )
    batch, vocab = t.shape
    block = _TRITON_BLOCK
    if interpreted:
        block = max(4, min(_INTERPRETER_BLOCK, 1 << max(0, vocab - 1).bit_length()))
    is_bf16 = t.dtype == torch_dtype("bfloat16")
    kernel[(batch,)](
        t.view(torch_dtype("int16")) if is_bf16 else t,
        ids,
        keys,
        thr,
        eps,
        freq,
        en,
        vocab,
        t.stride(0),
        ids.shape[1],
        ids.stride(0) if ids.dim() == 2 else 0,
        max(pos, 0),
        *strides,
        WIDTH=width,
        USE_POSITION=pos >= 0,
        HAS_ENABLED=en is not None,
        IS_BF16=is_bf16,
        BLOCK=block,
        INTERPRETED=interpreted,
        num_warps=4,
    )


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)
