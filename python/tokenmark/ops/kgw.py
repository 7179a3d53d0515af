"""KGW operations: the bias of green logits and the green count of ragged documents."""

from __future__ import annotations

import numpy as np

from .. import backends
from .._validate import (
    check_bool,
    check_context_width,
    check_int,
    check_seeding,
    enabled_rows,
    host_ids,
    host_view,
    is_cuda,
    key_rows,
    key_words,
    row_params,
)
from ._common import (
    UINT32_MAX,
    ArrayLike,
    call_scoring,
    key_rows_or_tensor,
    resolve,
)


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
        A tensor on the logits' device (int32 bits or uint32, ``[4]`` or ``[1 or batch, 4]``)
        goes to a GPU backend as it is, without a host sync.
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
    name, fn = resolve("apply_kgw_bias_", backend, on_cuda, large)
    if name in backends.GPU_BACKENDS:
        from ..backends import _torch

        t = _torch.device_logits(logits, writeable=True)
        dev, batch = t.device, t.shape[0]
        ids, en = _torch.device_rows(t, input_ids, enabled)
        fn(
            t,
            ids,
            _torch.device_param(key_rows_or_tensor(keys, batch), np.uint32, batch, "keys", dev, 4),
            _torch.device_param(thresholds, np.uint32, batch, "thresholds", dev),
            _torch.device_param(deltas, np.float32, batch, "deltas", dev),
            en,
            width,
            seed,
        )
        return logits
    arr, dtype = host_view(logits, "logits", writeable=True)
    batch = arr.shape[0]
    thr = row_params(thresholds, np.uint32, batch, "thresholds")
    if (thr == 0).any():  # here for every host backend (the reference took 0 as "no green")
        raise ValueError("thresholds: must be > 0 (gamma too small)")
    fn(
        arr,
        dtype,
        host_ids(input_ids, batch),
        key_rows(keys, batch),
        thr,
        row_params(deltas, np.float32, batch, "deltas"),
        enabled_rows(enabled, batch),
        width,
        seed,
    )
    return logits


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
    return call_scoring("score_kgw", backend, tokens, offsets, prefix_lengths, words, *args)
