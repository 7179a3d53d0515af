"""One dispatch function per operation (GUIDE section 2).

``backend`` is ``"auto"`` (the default; the environment variable ``TOKENMARK_BACKEND`` overrides
it), ``"cpu"`` (C++), ``"cuda"``, ``"triton"`` or ``"reference"`` (numpy). ``auto`` sends CUDA
tensors to the CUDA kernels and everything else to the C++ kernels.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from typing import Any

import numpy as np

from . import _C
from .reference import gumbel as _ref_gumbel
from .reference import kgw as _ref
from .reference import synthid as _ref_synthid

BACKENDS = ("auto", "cpu", "cuda", "triton", "reference")
_LOGITS_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16"}


def _torch():
    import torch  # imported on first use: the CPU paths take numpy alone

    return torch


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "is_cuda")


# Measured on an H100 (bench/RESULTS.md): for float32 logits of at least this many entries the
# Triton bias kernel runs nearer the copy bandwidth (0.95 vs 0.78 at 256 x 128256); below it,
# and for 16-bit logits, the CUDA kernel is faster (it launches in about half the host time).
_TRITON_BIAS_MIN_FP32 = 1 << 24


@functools.cache
def _triton_importable() -> bool:
    return importlib.util.find_spec("triton") is not None


def _resolve_backend(backend: str, on_cuda: bool, large_fp32_bias: bool = False) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = os.environ.get("TOKENMARK_BACKEND", "auto")
        if backend not in BACKENDS:
            raise ValueError(f"TOKENMARK_BACKEND: expected one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        if not on_cuda:
            return "cpu"
        return "triton" if large_fp32_bias and _triton_importable() else "cuda"
    if on_cuda and backend in ("cpu", "reference"):
        raise ValueError(f"backend={backend!r} takes host memory; the tensors are on a CUDA device")
    if not on_cuda and backend == "cuda":
        raise ValueError("backend='cuda' needs CUDA tensors; these are in host memory")
    return backend


def gpu_module(backend: str):
    """The Python side of a GPU backend (``"cuda"`` or ``"triton"``); a clear error if absent."""
    name = {"cuda": "tokenmark._cuda_ops", "triton": "tokenmark._triton_ops"}[backend]
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise RuntimeError(f"the {backend} backend is not available: {e}") from e


def _host_view(x: Any, name: str) -> tuple[np.ndarray, str]:
    """A writeable numpy view of host logits and its dtype name (bfloat16 as int16 bits)."""
    if _is_torch(x):
        torch = _torch()
        if x.dtype == torch.bfloat16:
            return x.view(torch.int16).numpy(), "bfloat16"
        arr = x.numpy()
    else:
        arr = x
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
    dtype = _LOGITS_DTYPES.get(arr.dtype)
    if dtype is None:
        raise TypeError(f"{name}: expected float32, float16 or bfloat16, got {arr.dtype}")
    return arr, dtype


def _row_params(value, dtype, batch: int, name: str, width: int = 1) -> np.ndarray:
    ndim = 1 if width == 1 else 2
    # Fast path for parameters prepared once (the logits processor's): no copy, no reshape.
    if not (
        isinstance(value, np.ndarray)
        and value.dtype == dtype
        and value.ndim == ndim
        and value.flags.c_contiguous
        and (width == 1 or value.shape[1] == width)
    ):
        value = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        value = value.reshape(-1) if width == 1 else value.reshape(-1, width)
    if value.shape[0] not in (1, batch):
        raise ValueError(f"{name}: expected 1 or {batch} rows, got {value.shape[0]}")
    return value


def apply_kgw_bias_(
    logits,
    input_ids,
    *,
    keys,
    thresholds,
    deltas,
    width: int,
    seeding: int,
    enabled=None,
    backend: str = "auto",
):
    """Add ``delta`` to the green logits of each row, in place, and return ``logits``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16)
    input_ids : ``[batch, length]`` int32/int64 ids; the last ``width`` form each row's context.
    keys : uint32 ``[4]`` or ``[batch, 4]`` key words (see :class:`tokenmark.Key`).
    thresholds : uint32 scalar or ``[batch]``: ``floor(gamma * 2**32)``.
    deltas : float scalar or ``[batch]``.
    enabled : bool/uint8 ``[batch]`` or None; disabled rows are left alone.

    Most users call :meth:`tokenmark.KGW.apply_` or the logits processor instead.
    """
    on_cuda = _is_torch(logits) and logits.is_cuda
    large_fp32 = (
        on_cuda and logits.dtype == _torch().float32 and logits.numel() >= _TRITON_BIAS_MIN_FP32
    )
    backend = _resolve_backend(backend, on_cuda, large_fp32)
    if on_cuda:
        import torch

        dev = logits.device
        batch = logits.shape[0]

        def dev_param(v, dtype, name, width=1):
            if isinstance(v, torch.Tensor) and v.device == dev:
                return v  # already prepared (the processor caches these)
            host = _row_params(v, dtype, batch, name, width)
            return torch.from_numpy(host.view(np.int32) if dtype == np.uint32 else host).to(dev)

        en = None if enabled is None else dev_param(enabled, np.uint8, "enabled")
        gpu_module(backend).apply_kgw_bias_(
            logits,
            input_ids,
            dev_param(keys, np.uint32, "keys", 4),
            dev_param(thresholds, np.uint32, "thresholds"),
            dev_param(deltas, np.float32, "deltas"),
            en,
            int(width),
            int(seeding),
        )
        return logits
    if backend == "triton":
        import torch

        t = logits if _is_torch(logits) else torch.from_numpy(logits)
        ids = input_ids if _is_torch(input_ids) else torch.from_numpy(np.asarray(input_ids))
        batch = t.shape[0]
        gpu_module("triton").apply_kgw_bias_(
            t,
            ids,
            torch.from_numpy(_row_params(keys, np.uint32, batch, "keys", 4).view(np.int32)),
            torch.from_numpy(
                _row_params(thresholds, np.uint32, batch, "thresholds").view(np.int32)
            ),
            torch.from_numpy(_row_params(deltas, np.float32, batch, "deltas")),
            None
            if enabled is None
            else torch.from_numpy(_row_params(enabled, np.uint8, batch, "enabled")),
            int(width),
            int(seeding),
        )
        return logits
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
    k = _row_params(keys, np.uint32, batch, "keys", 4)
    th = _row_params(thresholds, np.uint32, batch, "thresholds")
    de = _row_params(deltas, np.float32, batch, "deltas")
    en = None if enabled is None else _row_params(enabled, np.uint8, batch, "enabled")
    if en is not None and en.shape[0] != batch:
        en = np.broadcast_to(en, (batch,)).copy()
    if backend == "reference":
        arr[...] = _ref.apply_kgw_bias(arr, ids, k, th, de, en, int(width), int(seeding), dtype)
    else:
        _C.apply_kgw_bias_(arr, dtype, ids, k, th, de, en, int(width), int(seeding))
    return logits


def score_kgw(
    tokens,
    offsets,
    *,
    key,
    threshold: int,
    width: int,
    seeding: int,
    dedup: bool = True,
    prefix_lengths=None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """Count scored and green tokens per document of a flat ragged batch.

    ``tokens`` int32 ``[n_tokens]`` and ``offsets`` int64 ``[n_docs + 1]`` as numpy arrays (or
    torch tensors; CUDA tensors go to the GPU kernels and results stay on the device). Returns
    ``(n_scored, n_green, green, counted)``; the flags are None unless ``want_flags``.
    """
    on_cuda = _is_torch(tokens) and tokens.is_cuda
    backend = _resolve_backend(backend, on_cuda)
    key_words = np.asarray(key, dtype=np.uint32).reshape(4)
    if on_cuda or backend == "triton":
        import torch

        def t(x):
            if x is None or _is_torch(x):
                return x
            host = torch.from_numpy(np.ascontiguousarray(x))
            return host.to(tokens.device) if on_cuda else host

        return gpu_module(backend).score_kgw(
            t(tokens),
            t(offsets),
            t(prefix_lengths),
            tuple(int(w) for w in key_words),
            int(threshold),
            int(width),
            int(seeding),
            bool(dedup),
            bool(want_flags),
        )
    tok = tokens.numpy() if _is_torch(tokens) else np.asarray(tokens)
    off = offsets.numpy() if _is_torch(offsets) else np.asarray(offsets)
    pre = prefix_lengths.numpy() if _is_torch(prefix_lengths) else prefix_lengths
    if backend == "reference":
        out = _ref.score_kgw(tok, off, pre, key_words, threshold, width, seeding, dedup)
        return out if want_flags else (out[0], out[1], None, None)
    return _C.score_kgw(
        tok, off, pre, key_words, int(threshold), int(width), int(seeding), bool(dedup), want_flags
    )


def _host_ids(input_ids, batch: int) -> np.ndarray:
    ids = input_ids.cpu().numpy() if _is_torch(input_ids) else np.asarray(input_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"input_ids: expected integer token ids, got dtype {ids.dtype}")
    if ids.dtype not in (np.int32, np.int64):
        ids = ids.astype(np.int64)
    if ids.ndim != 2 or ids.shape[0] != batch:
        raise ValueError(f"input_ids: expected shape [{batch}, length], got {ids.shape}")
    return ids


def _device_param(value, dtype, batch: int, name: str, device, width: int = 1):
    """A per-row parameter as a tensor on ``device`` (uint32 travels as int32 bits)."""
    import torch

    if isinstance(value, torch.Tensor) and value.device == device:
        return value  # already prepared (a processor may cache these)
    host = _row_params(value, dtype, batch, name, width)
    if not host.flags.writeable:  # a frozen array (a scheme's key words): torch wants to own one
        host = host.copy()
    return torch.from_numpy(host.view(np.int32) if dtype == np.uint32 else host).to(device)


def _gpu_ops(backend: str, cuda_module: str):
    """The module of a GPU backend's operation: the Triton ops, or the named CUDA module."""
    if backend == "triton":
        return gpu_module("triton")
    return importlib.import_module(f"tokenmark.{cuda_module}")


def _as_tensor(x):
    """A torch tensor as is; a host array as a tensor sharing its memory where it can."""
    return x if _is_torch(x) else _torch().from_numpy(np.ascontiguousarray(x))


def _device_rows(logits, input_ids, enabled):
    """A GPU sampler's ids and enabled flags on the logits' device: ``(ids, enabled or None)``."""
    import torch

    dev, batch = logits.device, logits.shape[0]
    ids = input_ids if _is_torch(input_ids) else torch.from_numpy(_host_ids(input_ids, batch))
    en = None if enabled is None else _device_param(enabled, np.uint8, batch, "enabled", dev)
    if en is not None and en.shape[0] != batch:
        en = en.expand(batch).contiguous()
    return ids.to(dev), en


def _sample_gumbel_gpu(
    backend, logits, input_ids, keys, salts, width, seeding, skip_repeated, enabled
):
    """CUDA logits (the CUDA or Triton kernels), or host logits under the Triton interpreter."""
    import torch

    t = logits if _is_torch(logits) else torch.from_numpy(_host_view(logits, "logits")[0])
    dev, batch = t.device, t.shape[0]
    ids, en = _device_rows(t, input_ids, enabled)
    return _gpu_ops(backend, "_cuda_gumbel_ops").sample_gumbel(
        t,
        ids,
        _device_param(keys, np.uint32, batch, "keys", dev, 4),
        _device_param(salts, np.uint32, batch, "salts", dev),
        en,
        int(width),
        int(seeding),
        bool(skip_repeated),
    )


def sample_gumbel(
    logits,
    input_ids,
    *,
    keys,
    salts=0,
    width: int,
    seeding: int,
    skip_repeated: bool = True,
    enabled=None,
    backend: str = "auto",
) -> np.ndarray:
    """The Gumbel-max choice of each row: ``argmax_v logits[b, v] + G(key, ctx_b, v)``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16), after
        temperature / top-k / top-p (masked entries are -inf and never chosen). Not modified.
    input_ids : ``[batch, length]`` int32/int64 ids; the last ``width`` form each row's context.
    keys : uint32 ``[4]`` or ``[batch, 4]`` key words.
    salts : uint32 scalar or ``[batch]`` XORed into the context hash (0: none).
    skip_repeated : leave rows whose context hash occurred earlier in the row unwatermarked.
    enabled : bool/uint8 ``[batch]`` or None.

    Returns
    -------
    int64 ``[batch]``: the token, or -1 where the row is not watermarked (the caller samples it
    as usual). A numpy array for host logits, where a watermarked row without any finite logit
    raises ``ValueError``. For CUDA logits (or ``backend="triton"``, which also takes host
    tensors under the Triton interpreter), a tensor on their device, computed without a host
    sync when ``keys``, ``salts`` and ``enabled`` are tensors on that device (host values are
    copied there, and such a copy waits for the GPU): such a row holds -2 instead of raising.
    """
    on_cuda = _is_torch(logits) and logits.is_cuda
    backend = _resolve_backend(backend, on_cuda)
    if backend in ("cuda", "triton"):
        return _sample_gumbel_gpu(
            backend, logits, input_ids, keys, salts, width, seeding, skip_repeated, enabled
        )
    arr, dtype = _host_view(logits, "logits")
    if arr.ndim != 2:
        raise ValueError(f"logits: expected [batch, vocab], got shape {arr.shape}")
    batch = arr.shape[0]
    ids = _host_ids(input_ids, batch)
    k = _row_params(keys, np.uint32, batch, "keys", 4)
    sa = _row_params(salts, np.uint32, batch, "salts")
    en = None if enabled is None else _row_params(enabled, np.uint8, batch, "enabled")
    if en is not None and en.shape[0] != batch:
        en = np.broadcast_to(en, (batch,)).copy()
    if backend == "reference":
        out = _ref_gumbel.sample_gumbel(
            arr, ids, k, sa, en, int(width), int(seeding), bool(skip_repeated), dtype
        )
    else:
        out = _C.sample_gumbel(
            arr, dtype, ids, k, sa, en, int(width), int(seeding), bool(skip_repeated)
        )
    bad = np.flatnonzero(out == _ref_gumbel.NO_FINITE_LOGIT)
    if bad.size:
        raise ValueError(f"logits: row {int(bad[0])} has no finite entry to sample")
    return out


def _on_device(x, dtype, device):
    """An index array (tensor or array-like) as a tensor on ``device``."""
    import torch

    if _is_torch(x):
        return x.to(device)
    return torch.as_tensor(np.asarray(x, dtype=dtype), device=device)


def _score_gumbel_gpu(
    backend, tokens, offsets, key, salts, width, seeding, dedup, prefix, want_counted
):
    tok = _as_tensor(tokens)
    dev = tok.device
    off = _on_device(offsets, np.int64, dev)
    n_docs = max(off.shape[0] - 1, 1)
    return _gpu_ops(backend, "_cuda_gumbel_ops").score_gumbel(
        tok,
        off,
        None if prefix is None else _on_device(prefix, np.int64, dev),
        tuple(int(w) for w in np.asarray(key, dtype=np.uint32).reshape(4)),
        _device_param(salts, np.uint32, n_docs, "salts", dev),
        int(width),
        int(seeding),
        bool(dedup),
        bool(want_counted),
    )


def score_gumbel(
    tokens,
    offsets,
    *,
    key,
    salts=0,
    width: int,
    seeding: int,
    dedup: bool = True,
    prefix_lengths=None,
    want_counted: bool = False,
    backend: str = "auto",
):
    """Gumbel detection scores of a flat ragged batch: ``(n_scored, score, counted)``.

    ``score[d]`` is the sum of ``-log(1 - u)`` over the counted tokens of document ``d``
    (float64); ``counted`` (uint8 per token) is None unless ``want_counted``. ``salts`` is a
    uint32 scalar or one per document. CUDA ``tokens`` give CUDA tensors (one host sync, to
    validate the inputs), as does ``backend="triton"`` (torch tensors on the tokens' device).
    """
    on_cuda = _is_torch(tokens) and tokens.is_cuda
    backend = _resolve_backend(backend, on_cuda)
    if backend in ("cuda", "triton"):
        return _score_gumbel_gpu(
            backend, tokens, offsets, key, salts, width, seeding, dedup, prefix_lengths,
            want_counted,
        )  # fmt: skip
    key_words = np.asarray(key, dtype=np.uint32).reshape(4)
    tok = tokens.numpy() if _is_torch(tokens) else np.asarray(tokens)
    off = offsets.numpy() if _is_torch(offsets) else np.asarray(offsets)
    pre = prefix_lengths.numpy() if _is_torch(prefix_lengths) else prefix_lengths
    sa = _row_params(salts, np.uint32, max(len(off) - 1, 1), "salts")
    if backend == "reference":
        n, score, counted = _ref_gumbel.score_gumbel(
            tok, off, pre, key_words, sa, int(width), int(seeding), bool(dedup)
        )
        return n, score, counted if want_counted else None
    return _C.score_gumbel(
        tok, off, pre, key_words, sa, int(width), int(seeding), bool(dedup), bool(want_counted)
    )


def _sample_synthid_gpu(
    backend, logits, input_ids, keys, uniforms, enabled, width, seeding, layers, top_k, history
):
    """CUDA logits (the CUDA or Triton kernels), or host logits under the Triton interpreter."""
    import torch

    t = logits if _is_torch(logits) else torch.from_numpy(_host_view(logits, "logits")[0])
    dev, batch = t.device, t.shape[0]
    ids, en = _device_rows(t, input_ids, enabled)
    u = uniforms if _is_torch(uniforms) else torch.from_numpy(np.asarray(uniforms, np.float64))
    return _gpu_ops(backend, "_cuda_synthid_ops").sample_synthid(
        t,
        ids,
        _device_param(keys, np.uint32, batch, "keys", dev, 4),
        u.to(device=dev, dtype=torch.float64).reshape(-1),
        en,
        int(width),
        int(seeding),
        int(layers),
        int(top_k),
        int(history),
    )


def sample_synthid(
    logits,
    input_ids,
    *,
    keys,
    uniforms,
    width: int,
    seeding: int,
    layers: int = 30,
    top_k: int = 0,
    history: int = 1024,
    enabled=None,
    backend: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """SynthID-Text tournament sampling of each row: ``(tokens int64 [batch], marked uint8)``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16), after
        temperature / top-p (masked entries -inf). Not modified.
    input_ids : ``[batch, length]`` int32/int64 ids; the last ``width`` form each row's context.
    keys : uint32 ``[4]`` or ``[batch, 4]`` key words.
    uniforms : float64 ``[batch]`` in [0, 1): each row's sampling draw (the caller's RNG).
    layers : tournament layers (1..32). top_k : 0 for the whole vocabulary, else the k largest
        logits only. history : positions searched for a repeated context (such rows are sampled
        without the tournament; ``marked`` is 0 there).

    Returns numpy arrays for host logits, where a row without a finite logit raises
    ``ValueError``. For CUDA logits (the CUDA kernels, or ``backend="triton"``, which also takes
    host tensors under the Triton interpreter), tensors on their device, bit-identical to the
    CPU's, computed without a host sync when ``keys``, ``uniforms`` and ``enabled`` are tensors
    on that device (host values are copied there, and such a copy waits for the GPU); a row
    without a finite logit holds -2 instead of raising.
    """
    on_cuda = _is_torch(logits) and logits.is_cuda
    backend = _resolve_backend(backend, on_cuda)
    if backend in ("cuda", "triton"):
        return _sample_synthid_gpu(
            backend,
            logits,
            input_ids,
            keys,
            uniforms,
            enabled,
            width,
            seeding,
            layers,
            top_k,
            history,
        )
    arr, dtype = _host_view(logits, "logits")
    if arr.ndim != 2:
        raise ValueError(f"logits: expected [batch, vocab], got shape {arr.shape}")
    batch = arr.shape[0]
    ids = _host_ids(input_ids, batch)
    k = _row_params(keys, np.uint32, batch, "keys", 4)
    u = uniforms.cpu().numpy() if _is_torch(uniforms) else uniforms
    u = np.ascontiguousarray(np.asarray(u, dtype=np.float64).reshape(-1))
    if u.shape != (batch,):
        raise ValueError(f"uniforms: expected shape [{batch}], got {u.shape}")
    if u.size and not ((u >= 0) & (u < 1)).all():
        raise ValueError("uniforms: must be in [0, 1)")
    en = None if enabled is None else _row_params(enabled, np.uint8, batch, "enabled")
    if en is not None and en.shape[0] != batch:
        en = np.broadcast_to(en, (batch,)).copy()
    args = (int(width), int(seeding), int(layers), int(top_k), int(history))
    if backend == "reference":
        if not 1 <= args[2] <= 32:
            raise ValueError(f"layers: must be in [1, 32], got {layers}")
        out, marked = _ref_synthid.sample_synthid(arr, ids, k, u, en, *args, dtype)
    else:
        out, marked = _C.sample_synthid(arr, dtype, ids, k, u, en, *args)
    bad = np.flatnonzero(out == _ref_synthid.NO_FINITE_LOGIT)
    if bad.size:
        raise ValueError(f"logits: row {int(bad[0])} has no finite entry to sample")
    return out, marked


def score_synthid(
    tokens,
    offsets,
    *,
    key,
    width: int,
    seeding: int,
    layers: int = 30,
    dedup: bool = True,
    prefix_lengths=None,
    want_counted: bool = False,
    backend: str = "auto",
):
    """SynthID-Text detection counts of a flat ragged batch: ``(n_scored, ones, counted)``;
    ``ones[d, l]`` counts the g-values of layer ``l`` equal to 1 over the counted tokens. CUDA
    ``tokens`` give CUDA tensors (one host sync, to validate the inputs), as does
    ``backend="triton"`` (torch tensors on the tokens' device)."""
    on_cuda = _is_torch(tokens) and tokens.is_cuda
    backend = _resolve_backend(backend, on_cuda)
    if backend in ("cuda", "triton"):
        tok = _as_tensor(tokens)
        dev = tok.device
        return _gpu_ops(backend, "_cuda_synthid_ops").score_synthid(
            tok,
            _on_device(offsets, np.int64, dev),
            None if prefix_lengths is None else _on_device(prefix_lengths, np.int64, dev),
            tuple(int(w) for w in np.asarray(key, dtype=np.uint32).reshape(4)),
            int(width),
            int(seeding),
            int(layers),
            bool(dedup),
            bool(want_counted),
        )
    key_words = np.asarray(key, dtype=np.uint32).reshape(4)
    tok = tokens.numpy() if _is_torch(tokens) else np.asarray(tokens)
    off = offsets.numpy() if _is_torch(offsets) else np.asarray(offsets)
    pre = prefix_lengths.numpy() if _is_torch(prefix_lengths) else prefix_lengths
    if backend == "reference":
        n, ones, counted = _ref_synthid.score_synthid(
            tok, off, pre, key_words, int(width), int(seeding), int(layers), bool(dedup)
        )
        return n, ones, counted if want_counted else None
    return _C.score_synthid(
        tok,
        off,
        pre,
        key_words,
        int(width),
        int(seeding),
        int(layers),
        bool(dedup),
        bool(want_counted),
    )
