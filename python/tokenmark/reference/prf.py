"""The tokenmark PRF in numpy: the executable restatement of ``csrc/include/tokenmark/prf.h``.

Frozen: see ``docs/prf.md``. Every function takes and returns ``np.uint32`` arrays (broadcasting)
and computes exactly what the C++, CUDA and Triton code computes.
"""

from __future__ import annotations

import numpy as np

PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10

DOMAIN_KGW_GREEN = 1
DOMAIN_SYNTHID_G = 2
DOMAIN_GUMBEL = 3

CTX_SEED_PREV = 0x243F6A88
CTX_SEED_MIN = 0x85A308D3

SEEDING_PREV = 0
SEEDING_MINHASH = 1
SEEDINGS = {"prev": SEEDING_PREV, "minhash": SEEDING_MINHASH}

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def _u32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.uint64) & _MASK32


def philox4x32_10(c0, c1, c2, c3, k0, k1) -> tuple[np.ndarray, ...]:
    """Philox4x32-10 (Random123) on broadcastable uint32 inputs; returns four uint32 arrays."""
    c0, c1, c2, c3, k0, k1 = (_u32(v) for v in (c0, c1, c2, c3, k0, k1))
    for _ in range(PHILOX_ROUNDS):
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        hi0, lo0 = p0 >> _SHIFT32, p0 & _MASK32
        hi1, lo1 = p1 >> _SHIFT32, p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + np.uint64(PHILOX_W0)) & _MASK32
        k1 = (k1 + np.uint64(PHILOX_W1)) & _MASK32
    return tuple(np.asarray(c, dtype=np.uint32) for c in (c0, c1, c2, c3))


def prf_word(key_words, ctx, token, domain: int) -> np.ndarray:
    """The PRF word of ``token`` under ``ctx``: word ``token & 3`` of the block ``token >> 2``.

    ``key_words`` is a sequence of four uint32 (k0, k1 into the Philox key; k2, k3 into the
    counter) or an array ``[..., 4]`` broadcasting against ``ctx`` and ``token``.
    """
    kw = np.asarray(key_words, dtype=np.uint64)
    token = _u32(token)
    ctx = _u32(ctx)
    k0, k1, k2, k3 = kw[..., 0], kw[..., 1], kw[..., 2], kw[..., 3]
    words = philox4x32_10(token >> np.uint64(2), ctx, k2 ^ np.uint64(domain), k3, k0, k1)
    stacked = np.stack(np.broadcast_arrays(*words), axis=-1)
    lane = (token & np.uint64(3)).astype(np.intp)
    lane = np.broadcast_to(lane, stacked.shape[:-1])
    return np.take_along_axis(stacked, lane[..., None], axis=-1)[..., 0]


def fmix32(x) -> np.ndarray:
    """murmur3's 32-bit finaliser."""
    x = _u32(x)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & _MASK32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & _MASK32
    x ^= x >> np.uint64(16)
    return x.astype(np.uint32)


def context_hash(window, seeding: int) -> np.ndarray:
    """Context hash of token windows ``[..., width]`` (oldest first); width 0 gives 0."""
    window = _u32(window)
    width = window.shape[-1]
    if width == 0:
        return np.zeros(window.shape[:-1], dtype=np.uint32)
    if seeding == SEEDING_MINHASH:
        return fmix32(window ^ np.uint64(CTX_SEED_MIN)).min(axis=-1)
    if seeding != SEEDING_PREV:
        raise ValueError(f"seeding must be one of {sorted(SEEDINGS.values())}, got {seeding}")
    s = np.full(window.shape[:-1], CTX_SEED_PREV, dtype=np.uint64)
    for i in range(width):
        s = fmix32(s ^ window[..., i]).astype(np.uint64)
    return s.astype(np.uint32)
