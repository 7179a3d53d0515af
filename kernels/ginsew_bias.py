"""GINSEW embedding in Triton: each row's logits become the perturbed log-probabilities, in place.

One program per row, two passes over it in blocks of BLOCK ids (the same arithmetic as
``csrc/include/tokenmark/ginsew.h``; docs/prf.md section 8). Pass 1 keeps per group a running
maximum and sum of ``exp(x - max)`` (float32, merged online); the row's two offsets are then
formed in float64; pass 2 writes ``x - max_g - offset_g`` over the finite entries. Group flags
come from the PRF in both passes, in the [BLOCK // 4, 4] tile layout of the KGW kernel.
"""

import triton
import triton.language as tl
from triton.language.extra import libdevice

from .kgw_bias import _f32_to_bf16_bits, bf16_bits_to_f32
from .prf import SEEDING_PREV, context_hash, prf_block, prf_word, select_word

# PRF domains of GINSEW (docs/prf.md section 8). Frozen.
DOMAIN_GINSEW_GROUP = tl.constexpr(4)
DOMAIN_GINSEW_TIME = tl.constexpr(5)
NEG_INF = tl.constexpr(float("-inf"))


# float64 transcendentals: libdevice's (CUDA's, within 1-2 ulp) when compiled, as the Gumbel
# kernel does; the interpreter has no libdevice (its calls return None) and runs tl.* in numpy.
@triton.jit
def _log64(x, INTERPRETED: tl.constexpr):
    if INTERPRETED:
        return tl.log(x)
    else:
        return libdevice.log(x)


@triton.jit
def _exp64(x, INTERPRETED: tl.constexpr):
    if INTERPRETED:
        return tl.exp(x)
    else:
        return libdevice.exp(x)


@triton.jit
def _cos64(x, INTERPRETED: tl.constexpr):
    if INTERPRETED:
        return tl.cos(x)
    else:
        return libdevice.cos(x)


@triton.jit
def _logaddexp(a, b, INTERPRETED: tl.constexpr):
    """log(exp(a) + exp(b)) in float64; -inf when both are -inf."""
    m = tl.maximum(a, b)
    r = m + _log64(1.0 + _exp64(-tl.abs(a - b), INTERPRETED), INTERPRETED)
    return tl.where(m == NEG_INF, NEG_INF, r)


@triton.jit
def _load_row_block(logits_ptr, cols, mask, IS_BF16: tl.constexpr):
    x = tl.load(logits_ptr + cols, mask=mask, other=0)
    if IS_BF16:
        return x, bf16_bits_to_f32(x)
    return x, x.to(tl.float32)


# Not specialised: `position` and `ids_len` may be 1 (Triton would make them constexpr) and
# `ids_len` changes at every decode step (no recompilation per length).
@triton.jit(do_not_specialize=["ids_len", "position"])
def ginsew_bias_kernel(
    logits_ptr,  # [batch, vocab] float32 / float16, or bfloat16 viewed as int16 (IS_BF16)
    ids_ptr,  # [batch, ids_len] int32 / int64
    keys_ptr,  # [batch or 1, 4] int32 (uint32 bits)
    thresholds_ptr,  # [batch or 1] int32 (uint32 bits): floor(fraction * 2^32)
    eps_ptr,  # [batch or 1] float64
    freq_ptr,  # [batch or 1] float64
    enabled_ptr,  # [batch] uint8, or None (HAS_ENABLED False)
    vocab,
    logits_row_stride,
    ids_len,
    ids_row_stride,
    position,  # the id that sets the time (USE_POSITION)
    key_stride,  # 4, or 0 to broadcast one key
    thr_stride,
    eps_stride,
    freq_stride,
    WIDTH: tl.constexpr,  # ids hashed into the time (not USE_POSITION)
    USE_POSITION: tl.constexpr,
    HAS_ENABLED: tl.constexpr,
    IS_BF16: tl.constexpr,
    BLOCK: tl.constexpr,
    INTERPRETED: tl.constexpr,  # running under TRITON_INTERPRET=1 (see _log64)
):
    row = tl.program_id(0).to(tl.int64)
    if HAS_ENABLED:
        on = tl.load(enabled_ptr + row) != 0
    else:
        on = row >= 0
    kp = keys_ptr + row * key_stride
    k0 = tl.load(kp).to(tl.uint32, bitcast=True)
    k1 = tl.load(kp + 1).to(tl.uint32, bitcast=True)
    k2 = tl.load(kp + 2).to(tl.uint32, bitcast=True)
    k3 = tl.load(kp + 3).to(tl.uint32, bitcast=True)
    threshold = tl.load(thresholds_ptr + row * thr_stride).to(tl.uint32, bitcast=True)
    eps = tl.load(eps_ptr + row * eps_stride)
    freq = tl.load(freq_ptr + row * freq_stride)

    # The row's time: the window is its last WIDTH ids, or the one id at `position`.
    if USE_POSITION:
        start = position.to(tl.int64)
        timed = on & (start + 1 <= ids_len)
        ctx = context_hash(ids_ptr + row * ids_row_stride + start, timed, 1, SEEDING_PREV)
    else:
        start = ids_len - WIDTH
        timed = on & (start >= 0)
        ctx = context_hash(ids_ptr + row * ids_row_stride + start, timed, WIDTH, SEEDING_PREV)
    word = prf_word(k0, k1, k2, k3, ctx, ctx & 0, DOMAIN_GINSEW_TIME)
    t = word.to(tl.float64) * 2.3283064365386963e-10

    QUARTER: tl.constexpr = BLOCK // 4
    lanes = tl.arange(0, 4)
    row_ptr = logits_ptr + row * logits_row_stride
    m0 = tl.full((), NEG_INF, tl.float32)
    m1 = tl.full((), NEG_INF, tl.float32)
    s0 = tl.full((), 0.0, tl.float32)
    s1 = tl.full((), 0.0, tl.float32)
    zero_ctx = ctx & 0
    for b0 in range(0, vocab, BLOCK):
        blocks = b0 // 4 + tl.arange(0, QUARTER)
        cols = blocks[:, None] * 4 + lanes[None, :]
        mask = cols < vocab
        w0, w1, w2, w3 = prf_block(
            k0, k1, k2, k3, zero_ctx, blocks.to(tl.uint32), DOMAIN_GINSEW_GROUP
        )
        g = select_word(w0[:, None], w1[:, None], w2[:, None], w3[:, None], lanes[None, :])
        in0 = g < threshold
        _, xf = _load_row_block(row_ptr, cols, mask, IS_BF16)
        fin = mask & (xf == xf) & (tl.abs(xf) < float("inf"))
        new0 = tl.maximum(m0, tl.max(tl.where(fin & in0, xf, NEG_INF)))
        new1 = tl.maximum(m1, tl.max(tl.where(fin & ~in0, xf, NEG_INF)))
        e0 = tl.where(fin & in0, tl.exp(xf - new0), 0.0)
        e1 = tl.where(fin & ~in0, tl.exp(xf - new1), 0.0)
        s0 = tl.where(m0 == NEG_INF, 0.0, s0 * tl.exp(m0 - new0)) + tl.sum(e0)
        s1 = tl.where(m1 == NEG_INF, 0.0, s1 * tl.exp(m1 - new1)) + tl.sum(e1)
        m0 = new0
        m1 = new1

    # The two offsets (float64), as ginsew_offsets in ginsew.h.
    ls0 = tl.where(s0 > 0, _log64(s0.to(tl.float64), INTERPRETED), NEG_INF)
    ls1 = tl.where(s1 > 0, _log64(s1.to(tl.float64), INTERPRETED), NEG_INF)
    l0 = m0.to(tl.float64) + ls0
    l1 = m1.to(tl.float64) + ls1
    perturb = timed & (eps > 0) & (l0 > NEG_INF) & (l1 > NEG_INF)
    d = tl.where(perturb, l1 - l0, 0.0)
    c = _cos64(freq * t, INTERPRETED)
    log_scale = _log64(1.0 + 2.0 * eps, INTERPRETED)
    a0 = eps * (1.0 + c)
    a1 = eps * (1.0 - c)
    zero = d * 0.0
    la0 = tl.where(a0 > 0, _log64(a0, INTERPRETED), NEG_INF)
    la1 = tl.where(a1 > 0, _log64(a1, INTERPRETED), NEG_INF)
    lq0p = _logaddexp(-_logaddexp(zero, d, INTERPRETED), la0, INTERPRETED) - log_scale
    lq1p = _logaddexp(-_logaddexp(zero, -d, INTERPRETED), la1, INTERPRETED) - log_scale
    total = _logaddexp(l0, l1, INTERPRETED)
    lq0 = tl.where(perturb, lq0p, l0 - total)
    lq1 = tl.where(perturb, lq1p, l1 - total)
    off0 = (ls0 - lq0).to(tl.float32)
    off1 = (ls1 - lq1).to(tl.float32)

    for b0 in range(0, vocab, BLOCK):
        blocks = b0 // 4 + tl.arange(0, QUARTER)
        cols = blocks[:, None] * 4 + lanes[None, :]
        mask = cols < vocab
        w0, w1, w2, w3 = prf_block(
            k0, k1, k2, k3, zero_ctx, blocks.to(tl.uint32), DOMAIN_GINSEW_GROUP
        )
        g = select_word(w0[:, None], w1[:, None], w2[:, None], w3[:, None], lanes[None, :])
        in0 = g < threshold
        x, xf = _load_row_block(row_ptr, cols, mask, IS_BF16)
        fin = mask & (xf == xf) & (tl.abs(xf) < float("inf"))
        y = tl.where(in0, (xf - m0) - off0, (xf - m1) - off1)
        if IS_BF16:
            out = _f32_to_bf16_bits(tl.where(fin, y, 0.0))
        else:
            out = y.to(x.dtype)
        # Non-finite entries are not written: -inf stays -inf, NaN keeps its bits.
        tl.store(row_ptr + cols, out, mask=fin)
