"""Gumbel-max operations: the keyed choice of each row and the scores of ragged documents."""

from __future__ import annotations

import numpy as np

from .. import backends
from .._validate import (
    check_bool,
    check_context_width,
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
    ArrayLike,
    device_scoring,
    host_scoring,
    key_rows_or_tensor,
    no_finite_rows,
    require_host_words,
    resolve,
)


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
        A tensor on the logits' device (int32 bits or uint32, ``[4]`` or ``[1 or batch, 4]``)
        goes to a GPU backend as it is, without a host sync.
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
    on_cuda = is_cuda(logits)
    triton_shape = (
        on_cuda and logits.ndim > 0 and backends.gumbel_sample_prefers_triton(logits.shape[-1])
    )
    name, fn = resolve("sample_gumbel", backend, on_cuda, prefer_triton=triton_shape)
    if name in backends.GPU_BACKENDS:
        from ..backends import _torch

        t = _torch.device_logits(logits)
        dev, batch = t.device, t.shape[0]
        ids, en = _torch.device_rows(t, input_ids, enabled)
        k = _torch.device_param(key_rows_or_tensor(keys, batch), np.uint32, batch, "keys", dev, 4)
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
    return no_finite_rows(out)


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
    want_words: bool = False,
    backend: str = "auto",
):
    """Gumbel detection scores of a flat ragged batch: ``(n_scored, score, counted)``.

    ``score[d]`` is the sum of ``-log(1 - u)`` over the counted tokens of document ``d``
    (float64); ``counted`` (uint8 per token) is None unless ``want_flags``. ``salts`` is a
    uint32 scalar or one per document. CUDA ``tokens`` give CUDA tensors (one host sync, to
    validate the inputs), as does ``backend="triton"`` (torch tensors on the tokens' device).
    ``want_words`` (host backends) adds a fourth element: uint32 per token, a counted token's
    PRF word (its term is ``-log(1 - (word + 0.5) / 2^32)``), 0 elsewhere.

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
    want_words = check_bool(want_words, "want_words")
    name, fn = resolve("score_gumbel", backend, is_cuda(tokens))
    if name in backends.GPU_BACKENDS:
        from ..backends import _torch

        require_host_words(want_words, name)
        tok, off, pre = device_scoring(tokens, offsets, prefix_lengths)
        n_docs = max(off.shape[0] - 1, 1)
        s = _torch.device_param(salts, np.uint32, n_docs, "salts", tok.device)
        return fn(tok, off, pre, tuple(int(w) for w in words), s, *args)
    tok, off, pre = host_scoring(tokens, offsets, prefix_lengths, name)
    s = row_params(salts, np.uint32, max(len(off) - 1, 1), "salts")
    return fn(tok, off, pre, words, s, *args, want_words)
