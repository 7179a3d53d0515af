"""vLLM's native watermark PRF and detector (vLLM 0.33.0: ``vllm/v1/watermarking/``), the numpy
spec of the dialect (``csrc/include/tokenmark/vllm.h`` and ``csrc/cpu/vllm_score.cpp`` state it
in C++). Frozen by vLLM, not by tokenmark: a change here breaks detection of text vLLM made.

- PRF: absorb the context in blocks of 4 words (``id & 0xFFFFFFFF``, ``-1`` as ``0xFFFFFFFF``, a
  short last block padded with ``0xFFFFFFFF - i``): ``state = (0x574D4358, width, 0, 0)``, ``state
  = Philox(state ^ block, key = (k0 ^ offset, k1))``; then ``word = Philox((t >> 2, s0, s1, s2),
  key = (k0 ^ s3, k1 ^ 0x574D544B))[t & 3]`` for token ``t``; ``u = float32((float64(word >> 8)
  + 1) / (2^24 + 1))``.
- detector: the context of a position is the ``width`` tokens before it, ``-1`` before the
  document's scored start; a position whose context already occurred is skipped (``dedup``);
  ``score = sum_k weight_k * -log1p(-u_k)`` over the keys (float64).
"""

from __future__ import annotations

import numpy as np

from .prf import philox4x32_10

CONTEXT_DOMAIN = 0x574D4358  # vLLM's domain constants ("WMCX", "WMTK"): frozen by vLLM 0.33
TOKEN_DOMAIN = 0x574D544B
_M32 = np.uint64(0xFFFFFFFF)


def philox_uniform(key: int, contexts: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """vLLM's ``PhiloxPRF(key).uniform(contexts, tokens)`` for ``contexts [n, width]`` (int64, -1
    allowed) and ``tokens [n]``: float32 ``[n]``."""
    contexts = np.asarray(contexts, dtype=np.int64)
    n, width = contexts.shape
    k0, k1 = np.uint64(int(key) & 0xFFFFFFFF), np.uint64(int(key) >> 32)
    words = contexts.view(np.uint64) & _M32
    state = (
        np.full(n, CONTEXT_DOMAIN, np.uint64), np.full(n, width, np.uint64),
        np.zeros(n, np.uint64), np.zeros(n, np.uint64),
    )  # fmt: skip
    for offset in range(0, width, 4):
        block = [
            words[:, offset + i] if offset + i < width else np.uint64(0xFFFFFFFF - i)
            for i in range(4)
        ]
        counter = [state[i] ^ block[i] for i in range(4)]
        out = philox4x32_10(*counter, k0 ^ np.uint64(offset), k1)
        state = tuple(np.asarray(o, dtype=np.uint64) for o in out)
    t = np.asarray(tokens, dtype=np.int64).view(np.uint64) & _M32
    out = philox4x32_10(
        t >> np.uint64(2), state[0], state[1], state[2], k0 ^ state[3], k1 ^ np.uint64(TOKEN_DOMAIN)
    )
    stacked = np.stack(np.broadcast_arrays(*out), axis=-1)
    word = np.take_along_axis(stacked, (t & np.uint64(3)).astype(np.intp)[:, None], axis=1)[:, 0]
    return (((word >> np.uint32(8)).astype(np.float64) + 1.0) / (2**24 + 1)).astype(np.float32)


def score_vllm(tokens, offsets, starts, width: int, keys, weights, dedup: bool):
    """The detector over a ragged batch: ``(n_scored, score, counted)``; ``starts [n_docs]`` is
    each document's first scored position (from its start; None: 0), ``counted`` uint8 per
    token."""
    tokens = np.asarray(tokens, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    n_docs = len(offsets) - 1
    lengths = np.diff(offsets)
    start = offsets[:-1] + (0 if starts is None else np.asarray(starts, dtype=np.int64))
    doc = np.repeat(np.arange(n_docs), lengths)
    pos = np.arange(len(tokens))
    scored = pos >= start[doc] if len(tokens) else np.zeros(0, dtype=bool)
    p, pdoc = pos[scored], doc[scored]
    idx = p[:, None] + np.arange(-width, 0)[None, :]
    ctx = np.where(idx >= start[pdoc][:, None], tokens[np.maximum(idx, 0)], -1)
    counted = np.ones(len(p), dtype=bool)
    if dedup and len(p):  # the first occurrence of each (document, context)
        rows = np.concatenate([pdoc[:, None], ctx], axis=1)
        counted[:] = False
        counted[np.unique(rows, axis=0, return_index=True)[1]] = True
    u = np.stack([philox_uniform(int(k), ctx[counted], tokens[p][counted]) for k in keys], axis=1)
    s = -np.log1p(-u.astype(np.float64)) @ np.asarray(weights, dtype=np.float64)
    n_scored = np.bincount(pdoc[counted], minlength=n_docs).astype(np.int64)
    score = np.bincount(pdoc[counted], weights=s, minlength=n_docs)
    flags = np.zeros(len(tokens), dtype=np.uint8)
    flags[p[counted]] = 1
    return n_scored, score, flags
