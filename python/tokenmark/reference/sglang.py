"""SGLang's native watermark (0.5.23, ``sglang/srt/sampling/watermarking/``), the numpy spec of the
dialect: MurmurHash3 (x86, 32-bit) over the context, the key halves and the token.

Frozen by SGLang, not by tokenmark: a change here breaks detection of text SGLang watermarked.
Their rule (``detector.py`` and the package README):

- ``mix`` / ``fmix`` are MurmurHash3's body step and finaliser; a hash of ``L`` words is
  ``fmix(mix(...mix(0, w_1)..., w_L) ^ 4 L)``, all words taken mod 2^32.
- ``context_hash = murmur(c_1 .. c_L)`` over the up to ``width`` tokens before a position (the
  prompt tail included); ``token_hash = murmur(key_lo, key_hi, context_hash, token)``;
  ``u = (token_hash + 0.5) / 2^32`` and a token scores ``-log1p(-u)`` (float64).
- dual key: ``coin = murmur(a_lo, a_hi, b_lo, b_hi, context_hash)``; key A where
  ``coin < floor(P 2^32)``.
- detection: with a prompt of ``P > 0`` tokens, positions from ``P`` on are scored; without one
  the first ``width`` positions are skipped (their contexts are unknown). Each distinct context
  (length and tokens) is scored once, and scoring stops after ``max_contexts`` of them.
"""

from __future__ import annotations

import numpy as np

_M32 = np.uint64(0xFFFFFFFF)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return ((x << np.uint64(r)) | (x >> np.uint64(32 - r))) & _M32


def mix(state, value) -> np.ndarray:
    """MurmurHash3's body step on uint32 values held in uint64 arrays."""
    v = (np.asarray(value, dtype=np.uint64) & _M32) * np.uint64(0xCC9E2D51) & _M32
    v = _rotl(v, 15) * np.uint64(0x1B873593) & _M32
    s = _rotl(np.asarray(state, dtype=np.uint64) ^ v, 13)
    return (s * np.uint64(5) + np.uint64(0xE6546B64)) & _M32


def fmix(h, n_words: int) -> np.ndarray:
    """MurmurHash3's finaliser after XOR-ing in the byte length ``4 n_words``."""
    h = np.asarray(h, dtype=np.uint64) ^ np.uint64(4 * n_words)
    h ^= h >> np.uint64(16)
    h = h * np.uint64(0x85EBCA6B) & _M32
    h ^= h >> np.uint64(13)
    h = h * np.uint64(0xC2B2AE35) & _M32
    return h ^ (h >> np.uint64(16))


def murmur_words(words) -> np.ndarray:
    """The hash of word columns ``words [..., L]`` (uint64 arrays of uint32 values)."""
    words = np.asarray(words, dtype=np.uint64)
    h = np.zeros(words.shape[:-1], dtype=np.uint64)
    for i in range(words.shape[-1]):
        h = mix(h, words[..., i])
    return fmix(h, words.shape[-1])


def _halves(key: int) -> tuple[np.uint64, np.uint64]:
    key = int(key) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)


def context_hash(contexts) -> np.ndarray:
    """uint64 ``[n]``: the hash of each row of ``contexts [n, L]`` (token ids, all of length L)."""
    c = np.asarray(contexts, dtype=np.int64).view(np.uint64) & _M32
    return murmur_words(c)


def token_hash(key: int, ctx_hash, tokens) -> np.ndarray:
    """The token hash of ``tokens`` under ``ctx_hash`` (broadcast together)."""
    lo, hi = _halves(key)
    s = mix(mix(np.uint64(0), lo), hi)
    t = np.asarray(tokens, dtype=np.int64).view(np.uint64) & _M32
    return fmix(mix(mix(s, np.asarray(ctx_hash, dtype=np.uint64)), t), 4)


def coin(key_a: int, key_b: int, ctx_hash) -> np.ndarray:
    """Dual key: the per-context coin (key A where it is below the threshold)."""
    a_lo, a_hi = _halves(key_a)
    b_lo, b_hi = _halves(key_b)
    s = mix(mix(mix(mix(np.uint64(0), a_lo), a_hi), b_lo), b_hi)
    return fmix(mix(s, np.asarray(ctx_hash, dtype=np.uint64)), 5)


def token_score(hashes) -> np.ndarray:
    """float64 ``-log1p(-u)`` with ``u = (hash + 0.5) / 2^32``."""
    return -np.log1p(-((np.asarray(hashes, dtype=np.float64) + 0.5) / 2.0**32))


def score_sglang(tokens, offsets, prefix, width: int, max_contexts: int, keys, threshold: int):
    """The detector over a ragged batch: ``(n_scored, n_key_a, sums [n_docs, 5], counted)``.

    ``sums`` holds per document the combined score, key A's score over all counted positions, key
    B's, and the scores of the A and B partitions (dual key; zeros past column 1 otherwise).
    ``counted`` is uint8 per token. ``prefix`` (or None) is each document's prompt length.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    keys = [int(k) for k in np.asarray(keys, dtype=np.uint64)]
    n_docs = len(offsets) - 1
    n_scored = np.zeros(n_docs, np.int64)
    n_key_a = np.zeros(n_docs, np.int64)
    sums = np.zeros((n_docs, 5))
    counted = np.zeros(len(tokens), np.uint8)
    for d in range(n_docs):
        doc = tokens[offsets[d] : offsets[d + 1]].tolist()
        prompt = 0 if prefix is None else min(int(prefix[d]), len(doc))
        start = prompt if prompt > 0 else min(width, len(doc))
        seen: set[tuple[int, ...]] = set()
        positions, hashes = [], []
        for p in range(start, len(doc)):
            if len(seen) == max_contexts:
                break
            ctx = tuple(doc[max(0, p - width) : p])
            if ctx in seen:
                continue
            seen.add(ctx)
            positions.append(p)
            hashes.append(int(context_hash(np.array([ctx], np.int64))[0]))
        if not positions:
            continue
        counted[offsets[d] + np.array(positions)] = 1
        h = np.array(hashes, dtype=np.uint64)
        t = np.array([doc[p] for p in positions], dtype=np.int64)
        sa = token_score(token_hash(keys[0], h, t))
        n_scored[d] = len(positions)
        sums[d, 1] = sa.sum()
        if len(keys) == 1:
            sums[d, 0] = sums[d, 1]
            continue
        sb = token_score(token_hash(keys[1], h, t))
        use_a = coin(keys[0], keys[1], h) < np.uint64(threshold)
        n_key_a[d] = use_a.sum()
        sums[d, 2] = sb.sum()
        sums[d, 3] = sa[use_a].sum()
        sums[d, 4] = sb[~use_a].sum()
        sums[d, 0] = np.where(use_a, sa, sb).sum()
    return n_scored, n_key_a, sums, counted
