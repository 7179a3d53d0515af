"""K keys in one pass: the scoring operations of KGW, Gumbel and SynthID for K keys that share
every other parameter (one per model version or customer, say).

The documents are read once: context hashes, scored positions and, with dedup, which (context,
token) pairs count are worked out once for all keys; only the PRF runs once per key. Each key's
result equals the single-key operation's (``score_kgw`` etc.) bit for bit. ``n_scored`` and the
``counted`` flags do not depend on the key and come once; the per-key statistics have a leading
axis of length K. Host arrays only (``cpu`` and ``reference`` backends).
"""

from __future__ import annotations

import numpy as np

from .._key import Key
from .._validate import (
    check_bool,
    check_context_width,
    check_int,
    check_layers,
    check_seeding,
    is_cuda,
    row_params,
)
from ._common import UINT32_MAX, ArrayLike, host_scoring, resolve


def key_matrix(keys) -> np.ndarray:
    """Keys as uint32 ``[K, 4]``: from a sequence of :class:`tokenmark.Key` or a ``[K, 4]``
    array of key words (``np.stack([k.words for k in keys])``). The error never shows them."""
    if isinstance(keys, Key):
        raise TypeError("keys: expected a sequence of keys, got one Key (use [key])")
    if isinstance(keys, (list, tuple)) and any(isinstance(k, Key) for k in keys):
        if not all(isinstance(k, Key) for k in keys):
            raise TypeError("keys: mixes tokenmark.Key objects and other values")
        return np.stack([k.words for k in keys]) if keys else np.zeros((0, 4), np.uint32)
    try:
        arr = np.asarray(keys)
        ok = arr.dtype.kind in "iu" and arr.ndim == 2 and arr.shape[1] == 4
        ok = ok and (arr.size == 0 or (arr.min() >= 0 and arr.max() <= UINT32_MAX))
    except Exception:  # noqa: BLE001 - whatever it was, it must not be echoed
        ok = False
    if not ok:
        if isinstance(keys, (list, tuple)) and not keys:
            return np.zeros((0, 4), np.uint32)
        raise TypeError("keys: expected tokenmark.Key objects or uint32 key words [K, 4]")
    return np.ascontiguousarray(arr, dtype=np.uint32)


def _host(op: str, tokens, offsets, prefix_lengths, backend: str):
    if is_cuda(tokens):
        raise ValueError(f"tokens: {op} takes host arrays; score CUDA tensors key by key")
    name, fn = resolve(op, backend, False)
    return fn, host_scoring(tokens, offsets, prefix_lengths, name)


def score_kgw_keys(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    keys: ArrayLike,
    threshold: int,
    context_width: int,
    seeding: int,
    dedup: bool = True,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """KGW green counts of a flat ragged batch for K keys at once.

    Parameters as :func:`tokenmark.score_kgw`, with ``keys`` (K :class:`tokenmark.Key` or
    uint32 ``[K, 4]``) instead of ``key``. Returns ``(n_scored [n_docs], n_green [K, n_docs],
    counted)``; ``counted`` (uint8 per token, the same for every key) is None unless
    ``want_flags``. Per-key green flags are not returned: call :func:`tokenmark.score_kgw`.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> keys = [tm.Key(b"a"), tm.Key(b"b"), tm.Key(b"c")]
    >>> n, g, _ = tm.score_kgw_keys(np.array([3, 1, 4, 1, 5], np.int32), np.array([0, 2, 5]),
    ...     keys=keys, threshold=2**30, context_width=1, seeding=0)
    >>> n.tolist(), g.shape
    ([1, 2], (3, 2))
    """
    k = key_matrix(keys)
    args = (
        check_int(threshold, "threshold", 1, UINT32_MAX),
        check_context_width(context_width),
        check_seeding(seeding),
        check_bool(dedup, "dedup"),
        check_bool(want_flags, "want_flags"),
    )
    fn, (tok, off, pre) = _host("score_kgw_keys", tokens, offsets, prefix_lengths, backend)
    return fn(tok, off, pre, k, *args)


def score_gumbel_keys(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    keys: ArrayLike,
    salts: ArrayLike = 0,
    context_width: int,
    seeding: int,
    dedup: bool = True,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """Gumbel detection scores of a flat ragged batch for K keys at once.

    Parameters as :func:`tokenmark.score_gumbel`, with ``keys`` (K :class:`tokenmark.Key` or
    uint32 ``[K, 4]``) instead of ``key``; ``salts`` (a scalar or one per document) are the
    same for every key. Returns ``(n_scored [n_docs], score [K, n_docs], counted)``.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, s, _ = tm.score_gumbel_keys(np.array([3, 1, 4, 1, 5], np.int32), np.array([0, 5]),
    ...     keys=[tm.Key(b"a"), tm.Key(b"b")], context_width=1, seeding=0)
    >>> n.tolist(), s.shape
    ([4], (2, 1))
    """
    k = key_matrix(keys)
    args = (
        check_context_width(context_width),
        check_seeding(seeding),
        check_bool(dedup, "dedup"),
        check_bool(want_flags, "want_flags"),
    )
    fn, (tok, off, pre) = _host("score_gumbel_keys", tokens, offsets, prefix_lengths, backend)
    s = row_params(salts, np.uint32, max(len(off) - 1, 1), "salts")
    return fn(tok, off, pre, k, s, *args)


def score_synthid_keys(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    keys: ArrayLike,
    context_width: int,
    seeding: int,
    layers: int = 30,
    dedup: bool = True,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    backend: str = "auto",
):
    """SynthID-Text detection counts of a flat ragged batch for K keys at once.

    Parameters as :func:`tokenmark.score_synthid`, with ``keys`` (K :class:`tokenmark.Key` or
    uint32 ``[K, 4]``) instead of ``key``. Returns ``(n_scored [n_docs], ones [K, n_docs,
    layers], counted)``.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, ones, _ = tm.score_synthid_keys(np.array([3, 1, 4, 1, 5], np.int32),
    ...     np.array([0, 5]), keys=[tm.Key(b"a")], context_width=1, seeding=0, layers=4)
    >>> n.tolist(), ones.shape
    ([4], (1, 1, 4))
    """
    k = key_matrix(keys)
    args = (
        check_context_width(context_width),
        check_seeding(seeding),
        check_layers(layers),
        check_bool(dedup, "dedup"),
        check_bool(want_flags, "want_flags"),
    )
    fn, (tok, off, pre) = _host("score_synthid_keys", tokens, offsets, prefix_lengths, backend)
    return fn(tok, off, pre, k, *args)
