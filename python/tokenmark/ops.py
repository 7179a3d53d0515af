"""The public low-level operations: normalise the arguments, pick the backend, call it.

``backend`` is ``"auto"`` (the default; the environment variable ``TOKENMARK_BACKEND`` overrides
it), ``"cpu"`` (C++), ``"cuda"``, ``"triton"`` or ``"reference"`` (numpy); see
:mod:`tokenmark.backends` for the table and the ``auto`` rules. Host backends get numpy arrays,
GPU backends torch tensors on the data's device. Scalars are checked here, once, for every
backend: an error names the argument and never shows key material.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backends
from ._validate import (
    check_bool,
    check_context_width,
    check_int,
    check_layers,
    check_seeding,
    clamp_prefix,
    enabled_rows,
    host_ids,
    host_view,
    is_cuda,
    is_torch,
    key_rows,
    key_words,
    row_params,
    to_host,
)
from .reference.gumbel import NO_FINITE_LOGIT

ArrayLike = Any  # a numpy array, a torch tensor (host or CUDA), or a nested list
UINT32_MAX = 0xFFFFFFFF


def _resolve(op: str, backend: str, on_cuda: bool, large_fp32_bias: bool = False):
    name = backends.resolve(backend, on_cuda, large_fp32_bias)
    return name, backends.get(op, name)


def _no_finite_rows(out: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero(out == NO_FINITE_LOGIT)
    if bad.size:
        raise ValueError(f"logits: row {int(bad[0])} has no finite entry to sample")
    return out


def _host_scoring(tokens, offsets, prefix_lengths):
    """Host arrays of a ragged scoring call, with prefixes clamped to document lengths."""
    tok, off = np.asarray(to_host(tokens)), np.asarray(to_host(offsets))
    pre = prefix_lengths
    if pre is not None:
        pre = to_host(pre)
        if isinstance(pre, np.ndarray) and pre.dtype == np.int64:
            pre = clamp_prefix(pre, off)
    return tok, off, pre


def _device_scoring(tokens, offsets, prefix_lengths):
    from .backends import _torch

    tok = _torch.as_tensor(tokens)
    off = _torch.on_device(offsets, np.int64, tok.device)
    return tok, off, _torch.device_prefix(prefix_lengths, off)


def apply_kgw_bias_(
    logits: ArrayLike,
    input_ids: ArrayLike,
    *,
    keys: ArrayLike,
    thresholds: ArrayLike,
    deltas: ArrayLike,
    context_width: int,
    seeding: int,
    enabled: ArrayLike | None = None,
    backend: str = "auto",
):
    """Add ``delta`` to the green logits of each row, in place, and return ``logits``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16)
    input_ids : ``[batch, length]`` int32/int64 ids; the last ``context_width`` form each row's
        context.
    keys : uint32 ``[4]`` or ``[batch, 4]`` key words (see :class:`tokenmark.Key`).
    thresholds : uint32 scalar or ``[batch]``: ``floor(gamma * 2**32)``.
    deltas : float scalar or ``[batch]``.
    context_width : int in [0, 1024]. seeding : 0 (prev) or 1 (minhash).
    enabled : bool/uint8 ``[batch]`` or None; disabled rows are left alone.

    Most users call :meth:`tokenmark.KGW.apply_` or the logits processor instead.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> logits = np.zeros((1, 8), np.float32)
    >>> out = tm.apply_kgw_bias_(logits, [[3, 5]], keys=tm.Key(b"k").words,
    ...                          thresholds=2**31, deltas=2.0, context_width=1, seeding=0)
    >>> sorted(set(out[0].tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """
    width, seed = check_context_width(context_width), check_seeding(seeding)
    on_cuda = is_cuda(logits)
    large = on_cuda and str(logits.dtype) == "torch.float32"
    large = large and logits.numel() >= backends.TRITON_BIAS_MIN_FP32
    name, fn = _resolve("apply_kgw_bias_", backend, on_cuda, large)
    if name in backends.GPU_BACKENDS:
        from .backends import _torch

        t = _torch.device_logits(logits)
        dev, batch = t.device, t.shape[0]
        ids, en = _torch.device_rows(t, input_ids, enabled)
        fn(
            t,
            ids,
            _torch.device_param(_key_rows_or_tensor(keys, batch), np.uint32, batch, "keys", dev, 4),
            _torch.device_param(thresholds, np.uint32, batch, "thresholds", dev),
            _torch.device_param(deltas, np.float32, batch, "deltas", dev),
            en,
            width,
            seed,
        )
        return logits
    arr, dtype = host_view(logits, "logits")
    batch = arr.shape[0]
    fn(
        arr,
        dtype,
        host_ids(input_ids, batch),
        key_rows(keys, batch),
        row_params(thresholds, np.uint32, batch, "thresholds"),
        row_params(deltas, np.float32, batch, "deltas"),
        enabled_rows(enabled, batch),
        width,
        seed,
    )
    return logits


def _key_rows_or_tensor(keys, batch: int):
    """Key words for a GPU call: a prepared device tensor as is, else checked host words."""
    return keys if is_torch(keys) else key_rows(keys, batch)


def score_kgw(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    key: ArrayLike,
    threshold: int,
    context_width: int,
    seeding: int,
    dedup: bool = True,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """Count scored and green tokens per document of a flat ragged batch.

    ``tokens`` int32 ``[n_tokens]`` and ``offsets`` int64 ``[n_docs + 1]`` as numpy arrays (or
    torch tensors; CUDA tensors go to the GPU kernels and results stay on the device).
    ``prefix_lengths`` (int64 ``[n_docs]``): leading tokens of each document that are context
    only (a prefix longer than its document counts as the whole document). Returns
    ``(n_scored, n_green, green, counted)``; the flags are None unless ``want_flags``.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, g, _, _ = tm.score_kgw(np.array([3, 1, 4, 1, 5], np.int32), np.array([0, 2, 5]),
    ...     key=tm.Key(b"k").words, threshold=2**30, context_width=1, seeding=0)
    >>> n.tolist()
    [1, 2]
    """
    words = key_words(key)
    args = (
        check_int(threshold, "threshold", 1, UINT32_MAX),
        check_context_width(context_width),
        check_seeding(seeding),
        check_bool(dedup, "dedup"),
        check_bool(want_flags, "want_flags"),
    )
    on_cuda = is_cuda(tokens)
    name, fn = _resolve("score_kgw", backend, on_cuda)
    if name in backends.GPU_BACKENDS:
        tok, off, pre = _device_scoring(tokens, offsets, prefix_lengths)
        return fn(tok, off, pre, tuple(int(w) for w in words), *args)
    tok, off, pre = _host_scoring(tokens, offsets, prefix_lengths)
    return fn(tok, off, pre, words, *args)


def sample_gumbel(
    logits: ArrayLike,
    input_ids: ArrayLike,
    *,
    keys: ArrayLike,
    salts: ArrayLike = 0,
    context_width: int,
    seeding: int,
    skip_repeated: bool = True,
    enabled: ArrayLike | None = None,
    backend: str = "auto",
):
    """The Gumbel-max choice of each row: ``argmax_v logits[b, v] + G(key, ctx_b, v)``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16), after
        temperature / top-k / top-p (masked entries are -inf and never chosen). Not modified.
    input_ids : ``[batch, length]`` int32/int64 ids; the last ``context_width`` form each row's
        context.
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

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> tm.sample_gumbel(np.zeros((1, 8), np.float32), [[3, 5]], keys=tm.Key(b"k").words,
    ...                  context_width=1, seeding=0).shape
    (1,)
    """
    args = (
        check_context_width(context_width),
        check_seeding(seeding),
        check_bool(skip_repeated, "skip_repeated"),
    )
    name, fn = _resolve("sample_gumbel", backend, is_cuda(logits))
    if name in backends.GPU_BACKENDS:
        from .backends import _torch

        t = _torch.device_logits(logits)
        dev, batch = t.device, t.shape[0]
        ids, en = _torch.device_rows(t, input_ids, enabled)
        k = _torch.device_param(_key_rows_or_tensor(keys, batch), np.uint32, batch, "keys", dev, 4)
        s = _torch.device_param(salts, np.uint32, batch, "salts", dev)
        return fn(t, ids, k, s, en, *args)
    arr, dtype = host_view(logits, "logits")
    batch = arr.shape[0]
    out = fn(
        arr,
        dtype,
        host_ids(input_ids, batch),
        key_rows(keys, batch),
        row_params(salts, np.uint32, batch, "salts"),
        enabled_rows(enabled, batch),
        *args,
    )
    return _no_finite_rows(out)


def score_gumbel(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    key: ArrayLike,
    salts: ArrayLike = 0,
    context_width: int,
    seeding: int,
    dedup: bool = True,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """Gumbel detection scores of a flat ragged batch: ``(n_scored, score, counted)``.

    ``score[d]`` is the sum of ``-log(1 - u)`` over the counted tokens of document ``d``
    (float64); ``counted`` (uint8 per token) is None unless ``want_flags``. ``salts`` is a
    uint32 scalar or one per document. CUDA ``tokens`` give CUDA tensors (one host sync, to
    validate the inputs), as does ``backend="triton"`` (torch tensors on the tokens' device).

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, score, _ = tm.score_gumbel(np.array([3, 1, 4, 1, 5], np.int32), np.array([0, 5]),
    ...     key=tm.Key(b"k").words, context_width=1, seeding=0)
    >>> n.tolist()
    [4]
    """
    words = key_words(key)
    args = (
        check_context_width(context_width),
        check_seeding(seeding),
        check_bool(dedup, "dedup"),
        check_bool(want_flags, "want_flags"),
    )
    name, fn = _resolve("score_gumbel", backend, is_cuda(tokens))
    if name in backends.GPU_BACKENDS:
        from .backends import _torch

        tok, off, pre = _device_scoring(tokens, offsets, prefix_lengths)
        n_docs = max(off.shape[0] - 1, 1)
        s = _torch.device_param(salts, np.uint32, n_docs, "salts", tok.device)
        return fn(tok, off, pre, tuple(int(w) for w in words), s, *args)
    tok, off, pre = _host_scoring(tokens, offsets, prefix_lengths)
    s = row_params(salts, np.uint32, max(len(off) - 1, 1), "salts")
    return fn(tok, off, pre, words, s, *args)


def sample_synthid(
    logits: ArrayLike,
    input_ids: ArrayLike,
    *,
    keys: ArrayLike,
    uniforms: ArrayLike,
    context_width: int,
    seeding: int,
    layers: int = 30,
    top_k: int = 0,
    context_history: int = 1024,
    enabled: ArrayLike | None = None,
    backend: str = "auto",
):
    """SynthID-Text tournament sampling of each row: ``(tokens int64 [batch], marked uint8)``.

    Parameters
    ----------
    logits : numpy array or torch tensor ``[batch, vocab]`` (float32, float16, bfloat16), after
        temperature / top-p (masked entries -inf). Not modified.
    input_ids : ``[batch, length]`` int32/int64 ids; the last ``context_width`` form each row's
        context.
    keys : uint32 ``[4]`` or ``[batch, 4]`` key words.
    uniforms : float64 ``[batch]`` in [0, 1): each row's sampling draw (the caller's RNG).
    layers : tournament layers (1..32). top_k : 0 for the whole vocabulary, else the k largest
        logits only. context_history : positions searched for a repeated context (such rows are
        sampled without the tournament; ``marked`` is 0 there).

    Returns numpy arrays for host logits, where a row without a finite logit raises
    ``ValueError``. For CUDA logits (the CUDA kernels, or ``backend="triton"``, which also takes
    host tensors under the Triton interpreter), tensors on their device, bit-identical to the
    CPU's, computed without a host sync when ``keys``, ``uniforms`` and ``enabled`` are tensors
    on that device (host values are copied there, and such a copy waits for the GPU); a row
    without a finite logit holds -2 instead of raising.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> tokens, marked = tm.sample_synthid(np.zeros((1, 8), np.float32), [[3, 5]],
    ...     keys=tm.Key(b"k").words, uniforms=[0.5], context_width=1, seeding=0)
    >>> tokens.shape, marked.tolist()
    ((1,), [1])
    """
    args = (
        check_context_width(context_width),
        check_seeding(seeding),
        check_layers(layers),
        check_int(top_k, "top_k", 0, 2**31 - 1),
        check_int(context_history, "context_history", 0, 2**62),
    )
    name, fn = _resolve("sample_synthid", backend, is_cuda(logits))
    if name in backends.GPU_BACKENDS:
        import torch

        from .backends import _torch

        t = _torch.device_logits(logits)
        dev, batch = t.device, t.shape[0]
        ids, en = _torch.device_rows(t, input_ids, enabled)
        k = _torch.device_param(_key_rows_or_tensor(keys, batch), np.uint32, batch, "keys", dev, 4)
        u = uniforms if is_torch(uniforms) else torch.from_numpy(np.asarray(uniforms, np.float64))
        return fn(t, ids, k, u.to(device=dev, dtype=torch.float64).reshape(-1), en, *args)
    arr, dtype = host_view(logits, "logits")
    batch = arr.shape[0]
    out, marked = fn(
        arr,
        dtype,
        host_ids(input_ids, batch),
        key_rows(keys, batch),
        _uniforms(uniforms, batch),
        enabled_rows(enabled, batch),
        *args,
    )
    return _no_finite_rows(out), marked


def _uniforms(uniforms, batch: int) -> np.ndarray:
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


def score_synthid(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    key: ArrayLike,
    context_width: int,
    seeding: int,
    layers: int = 30,
    dedup: bool = True,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """SynthID-Text detection counts of a flat ragged batch: ``(n_scored, ones, counted)``;
    ``ones[d, l]`` counts the g-values of layer ``l`` equal to 1 over the counted tokens. CUDA
    ``tokens`` give CUDA tensors (one host sync, to validate the inputs), as does
    ``backend="triton"`` (torch tensors on the tokens' device).

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, ones, _ = tm.score_synthid(np.array([3, 1, 4, 1, 5], np.int32), np.array([0, 5]),
    ...     key=tm.Key(b"k").words, context_width=1, seeding=0, layers=4)
    >>> n.tolist(), ones.shape
    ([4], (1, 4))
    """
    words = key_words(key)
    args = (
        check_context_width(context_width),
        check_seeding(seeding),
        check_layers(layers),
        check_bool(dedup, "dedup"),
        check_bool(want_flags, "want_flags"),
    )
    name, fn = _resolve("score_synthid", backend, is_cuda(tokens))
    if name in backends.GPU_BACKENDS:
        tok, off, pre = _device_scoring(tokens, offsets, prefix_lengths)
        return fn(tok, off, pre, tuple(int(w) for w in words), *args)
    tok, off, pre = _host_scoring(tokens, offsets, prefix_lengths)
    return fn(tok, off, pre, words, *args)
