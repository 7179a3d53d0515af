"""SynthID-Text's g-values (transformers' ``SynthIDTextWatermarkLogitsProcessor``, Google
DeepMind's ``synthid-text`` 0.2.1), the numpy spec of the dialect's hash (``csrc/cpu/
synthid_text_g.cpp`` states it in C++). Frozen by them, not by tokenmark.

``accumulate(h, x) = (h + x) * 6364136223846793005 + 1`` (int64 arithmetic wrapping, as torch's);
``g[i, l] = table[accumulate(h_i, keys[l]) mod table_size]`` (floor modulo of the int64), with
``h_i`` the hash of a position's context and token.
"""

from __future__ import annotations

import numpy as np

LCG_MULTIPLIER = 6364136223846793005  # their accumulate_hash constants (newlib / musl LCG)
LCG_INCREMENT = 1


def accumulate(h: np.ndarray, x) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (h + np.asarray(x).astype(np.uint64)) * np.uint64(LCG_MULTIPLIER) + np.uint64(
            LCG_INCREMENT
        )


def g_values(hashes, keys, table) -> np.ndarray:
    """uint8 ``[n, depth]``: the g-values of (context, token) ``hashes [n]`` (uint64) under
    ``keys [depth]`` (uint64) and ``table`` (uint8)."""
    hk = accumulate(np.asarray(hashes, dtype=np.uint64)[:, None],
                    np.asarray(keys, dtype=np.uint64)[None, :])  # fmt: skip
    table = np.asarray(table, dtype=np.uint8)
    size = len(table)
    if size & (size - 1) == 0:  # a power of 2: the floor modulo is the low bits
        idx = (hk & np.uint64(size - 1)).view(np.int64)
    else:
        idx = np.mod(hk.view(np.int64), size)  # floor modulo, as torch's %
    return table[idx]


def score_synthid_text(tokens, offsets, prefix, ngram_len: int, keys, table, history: int,
                       mask_repeated: bool, eos: int):  # fmt: skip
    """Their detector's counts over a ragged batch: ``(n_scored, ones [n_docs, depth], counted)``.

    Position ``j >= ngram_len - 1`` of a document hashes its context ``x[j-n+1..j-1]`` from
    ``h = 1``. With ``mask_repeated`` (their context repetition mask, run over every position)
    it is masked when the previous position with the same context hash is at most ``history``
    before it, or when the hash is 0 among the first ``history`` contexts (their history starts
    zero-filled). It is also masked from the document's first ``eos`` on (``eos = -1``: none)
    and before ``prefix`` (the prompt). Kept positions count, and add their g-values to
    ``ones``; ``counted`` is uint8 per token.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    keys = np.asarray(keys, dtype=np.uint64)
    n_docs, n = len(offsets) - 1, ngram_len
    n_scored = np.zeros(n_docs, np.int64)
    ones = np.zeros((n_docs, len(keys)), np.int64)
    counted = np.zeros(len(tokens), np.uint8)
    for d in range(n_docs):
        doc = tokens[offsets[d] : offsets[d + 1]]
        hits = np.flatnonzero(doc == eos) if eos >= 0 else []
        end = hits[0] if len(hits) else len(doc)
        begin = max(n - 1, 0 if prefix is None else int(prefix[d]))
        positions = np.arange(n - 1, len(doc))
        ctx = np.ones(len(positions), dtype=np.uint64)
        for i in range(n - 1, 0, -1):
            ctx = accumulate(ctx, doc[positions - i])
        keep = (positions >= begin) & (positions < end)
        if mask_repeated:
            last: dict[int, int] = {}
            for i, (j, h) in enumerate(zip(positions.tolist(), ctx.tolist())):
                prev = last.get(h)
                if (prev is not None and j - prev <= history) or (h == 0 and j - (n - 1) < history):
                    keep[i] = False
                last[h] = j
        if not keep.any():
            continue
        g = g_values(accumulate(ctx[keep], doc[positions[keep]]), keys, table)
        n_scored[d] = int(keep.sum())
        ones[d] = g.sum(axis=0)
        counted[offsets[d] + positions[keep]] = 1
    return n_scored, ones, counted
