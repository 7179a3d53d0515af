"""SynthID-Text's g-values and detector counts (a dialect): host backends only."""

from __future__ import annotations

import numpy as np

from .._validate import check_bool, check_int, host_array
from ._common import ArrayLike, dialect_scoring, resolve_host, uint64_keys


def synthid_text_g_values(
    hashes: ArrayLike, *, keys: ArrayLike, table: ArrayLike, backend: str = "auto"
) -> np.ndarray:
    """uint8 ``[n, depth]``: SynthID-Text's g-values of (context, token) hashes.

    ``hashes`` uint64 ``[n]`` (their ``accumulate_hash`` of the context, then the token),
    ``keys`` uint64 ``[depth]`` (their ``keys`` mod 2^64), ``table`` uint8 (their sampling table).

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> tm.ops.synthid_text_g_values(np.array([1, 2], np.uint64), keys=np.array([5], np.uint64),
    ...                              table=np.array([0, 1], np.uint8)).shape
    (2, 1)
    """
    h = host_array(hashes, "hashes")
    if h.dtype != np.uint64 or h.ndim != 1:
        raise ValueError("hashes: expected uint64 [n]")
    k, t = _keys_table(keys, table)
    name, fn = resolve_host("synthid_text_g_values", backend)
    return fn(np.ascontiguousarray(h), k, t)


def _keys_table(keys, table) -> tuple[np.ndarray, np.ndarray]:
    k = uint64_keys(keys, 1024, "[depth], 1 <= depth <= 1024")
    t = host_array(table, "table")
    if t.dtype != np.uint8 or t.ndim != 1 or t.shape[0] < 1:
        raise ValueError("table: expected a non-empty uint8 [table_size]")
    return k, np.ascontiguousarray(t)


def synthid_text_layer_bits(keys: ArrayLike, table: ArrayLike):
    """The C++ detector's layer bits for ``keys`` and ``table``: pass them to
    :func:`score_synthid_text` as ``layer_bits`` to count many calls' g-values faster.

    With a table of ``2^b <= 2^18`` entries of 0s and 1s and at most 64 keys, every layer's
    g-value of a position depends only on the low ``b`` bits of its hash, so one look-up in a
    ``[2^b, ceil(depth / 32)]`` uint32 table (256 KiB for theirs) gives all of them. Other keys or
    tables get an inactive object (``.active`` False) and the per-layer look-ups. Built in about
    0.3 ms for theirs; the keys stay inside (no repr shows them).

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> keys, table = np.array([5, 6], np.uint64), np.array([0, 1], np.uint8)
    >>> bits = tm.ops.synthid_text_layer_bits(keys, table)
    >>> bits.active, bits.nbytes
    (True, 8)
    """
    from .. import _C

    k, t = _keys_table(keys, table)
    return _C.SynthidTextLayerBits(k, t)


def score_synthid_text(
    tokens: ArrayLike,
    offsets: ArrayLike,
    *,
    keys: ArrayLike,
    table: ArrayLike,
    ngram_len: int,
    context_history_size: int = 1024,
    mask_repeated_contexts: bool = True,
    eos_token_id: int | None = None,
    prefix_lengths: ArrayLike | None = None,
    want_flags: bool = False,
    layer_bits=None,
    backend: str = "auto",
):
    """SynthID-Text's detector counts of a flat ragged batch: ``(n_scored, ones, counted)``.

    Per document, the n-grams their detectors score (context repetition mask over the last
    ``context_history_size`` contexts, EOS mask from the first ``eos_token_id`` on, and the
    prompt of ``prefix_lengths`` dropped): ``n_scored`` int64 ``[n_docs]``, ``ones`` int64
    ``[n_docs, depth]`` the g-values equal to 1 per layer, ``counted`` uint8 per token (or None).
    ``layer_bits``: :func:`synthid_text_layer_bits` of the same keys and table (the C++ backend
    checks that they are, and runs faster with them), or None.
    The spec is :func:`tokenmark.reference.synthid_text.score_synthid_text`.

    Examples
    --------
    >>> import numpy as np, tokenmark as tm
    >>> n, ones, _ = tm.ops.score_synthid_text(np.arange(8, dtype=np.int32), np.array([0, 8]),
    ...     keys=np.array([5, 6], np.uint64), table=np.array([0, 1], np.uint8), ngram_len=3)
    >>> n.tolist(), ones.shape
    ([6], (1, 2))
    """
    k, t = _keys_table(keys, table)
    ngram_len = check_int(ngram_len, "ngram_len", 1, 1024)
    history = check_int(context_history_size, "context_history_size", 0, 2**63 - 1)
    eos = -1 if eos_token_id is None else check_int(eos_token_id, "eos_token_id", -1, 2**31 - 1)
    mask = check_bool(mask_repeated_contexts, "mask_repeated_contexts")
    flags = check_bool(want_flags, "want_flags")
    # CUDA tensors are counted on their device (layer_bits, a host speed-up, unused there) and
    # come back as tensors there.
    fn, tok, off, pre = dialect_scoring(
        "score_synthid_text", backend, tokens, offsets, prefix_lengths
    )
    return fn(tok, off, pre, ngram_len, k, t, history, mask, eos, flags, layer_bits)
