"""The tokenmark PRF restated in Triton: Philox4x32-10, fmix32 and the context hashes.

FROZEN, like ``csrc/include/tokenmark/prf.h``, whose constants and arithmetic these lines repeat
bit for bit (tests/test_triton.py checks them against the numpy reference and the Random123
known-answer vectors). Every value is a ``tl.uint32`` tensor (or scalar).

32x32-bit products are taken in uint64 and split: that yields both halves from one multiply
(the backend emits ``mul.wide.u32``), and, unlike a wrapping uint32 ``*``, it never trips
Triton's overflow sanitiser when kernels are built with ``debug=True``.
"""

import triton
import triton.language as tl

# Philox4x32 multipliers and Weyl key increments (Random123). Frozen.
PHILOX_M0 = tl.constexpr(0xD2511F53)
PHILOX_M1 = tl.constexpr(0xCD9E8D57)
PHILOX_W0 = tl.constexpr(0x9E3779B9)
PHILOX_W1 = tl.constexpr(0xBB67AE85)
PHILOX_ROUNDS = tl.constexpr(10)

# Domain tags, XORed into counter word 2: KGW green test, SynthID g-values, Gumbel draws. Frozen.
DOMAIN_KGW_GREEN = tl.constexpr(1)
DOMAIN_SYNTHID_G = tl.constexpr(2)
DOMAIN_GUMBEL = tl.constexpr(3)

# Seeds of the context hashes and the seeding codes. Frozen.
CTX_SEED_PREV = tl.constexpr(0x243F6A88)
CTX_SEED_MIN = tl.constexpr(0x85A308D3)
SEEDING_PREV = tl.constexpr(0)
SEEDING_MINHASH = tl.constexpr(1)

MASK32 = tl.constexpr(0xFFFFFFFF)


@triton.jit
def _mulhilo(a, m: tl.constexpr):
    """High and low 32-bit halves of ``a * m`` (``a`` uint32, ``m`` a uint32 constant)."""
    p = a.to(tl.uint64) * m
    return (p >> 32).to(tl.uint32), (p & MASK32).to(tl.uint32)


@triton.jit
def _add32(a, w: tl.constexpr):
    """``a + w`` modulo 2^32."""
    return ((a.to(tl.uint64) + w) & MASK32).to(tl.uint32)


@triton.jit
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on counter (c0, c1, c2, c3) and key (k0, k1); returns four uint32 words."""
    for _ in tl.static_range(PHILOX_ROUNDS):
        hi0, lo0 = _mulhilo(c0, PHILOX_M0)
        hi1, lo1 = _mulhilo(c2, PHILOX_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = _add32(k0, PHILOX_W0)
        k1 = _add32(k1, PHILOX_W1)
    return c0, c1, c2, c3


@triton.jit
def prf_block(k0, k1, k2, k3, ctx, token_block, domain: tl.constexpr):
    """The four PRF words of token ids ``4 * token_block + 0..3`` under context hash ``ctx``."""
    return philox4x32_10(token_block, ctx, k2 ^ domain, k3, k0, k1)


@triton.jit
def select_word(w0, w1, w2, w3, lane):
    """Word ``lane`` (0..3) of a PRF block: the word of token id ``4 * block + lane``."""
    return tl.where(lane == 0, w0, tl.where(lane == 1, w1, tl.where(lane == 2, w2, w3)))


@triton.jit
def prf_word(k0, k1, k2, k3, ctx, token, domain: tl.constexpr):
    """The PRF word of ``token`` (uint32) under ``ctx``: word ``token & 3`` of ``token >> 2``."""
    w0, w1, w2, w3 = prf_block(k0, k1, k2, k3, ctx, token >> 2, domain)
    return select_word(w0, w1, w2, w3, token & 3)


@triton.jit
def fmix32(x):
    """murmur3's 32-bit finaliser."""
    x ^= x >> 16
    x = ((x.to(tl.uint64) * 0x85EBCA6B) & MASK32).to(tl.uint32)
    x ^= x >> 13
    x = ((x.to(tl.uint64) * 0xC2B2AE35) & MASK32).to(tl.uint32)
    x ^= x >> 16
    return x


@triton.jit
def _fill(mask, value: tl.constexpr):
    """A uint32 tensor shaped like ``mask`` holding ``value``."""
    return tl.zeros_like(mask).to(tl.uint32) | value


@triton.jit
def context_hash(ids_ptr, mask, WIDTH: tl.constexpr, SEEDING: tl.constexpr):
    """Context hash of the ``WIDTH`` token ids at ``ids_ptr[0..WIDTH)``, oldest first.

    ``ids_ptr`` is a scalar pointer or a block of pointers (one window per lane) and ``mask``
    (a bool tensor of the same shape) guards its loads; the result has ``mask``'s shape. Ids are
    int32 or int64 in ``[0, 2^31)``. ``WIDTH == 0`` gives 0 (one fixed green list). prev chains
    ``s <- fmix32(s ^ t)`` from ``CTX_SEED_PREV``; minhash takes the minimum of
    ``fmix32(t ^ CTX_SEED_MIN)``.
    """
    if WIDTH == 0:
        h = _fill(mask, 0)
    elif SEEDING == SEEDING_MINHASH:
        h = _fill(mask, MASK32)
        for i in range(WIDTH):
            t = tl.load(ids_ptr + i, mask=mask, other=0).to(tl.uint32)
            m = fmix32(t ^ CTX_SEED_MIN)
            h = tl.where(m < h, m, h)
    else:
        tl.static_assert(SEEDING == SEEDING_PREV, "unknown seeding")
        h = _fill(mask, CTX_SEED_PREV)
        for i in range(WIDTH):
            t = tl.load(ids_ptr + i, mask=mask, other=0).to(tl.uint32)
            h = fmix32(h ^ t)
    return h
