"""KGW bias in Triton: add delta to the green logits of each row, in place.

One program per (row, block of BLOCK columns). One Philox call yields the words of four
consecutive token ids, so a program runs BLOCK // 4 calls over a [BLOCK // 4, 4] tile whose
column ``l`` takes word ``l``; the tile is contiguous in memory, so the loads stay vectorised.
"""

import triton
import triton.language as tl

from .prf import DOMAIN_KGW_GREEN, context_hash, prf_block, select_word


@triton.jit
def bf16_bits_to_f32(bits):
    """bfloat16 bit patterns (int16) as the float32 values they denote (exact)."""
    return (bits.to(tl.uint16, bitcast=True).to(tl.uint32) << 16).to(tl.float32, bitcast=True)


@triton.jit
def _f32_to_bf16_bits(x):
    """Round-to-nearest-even to bfloat16 bits (int16), done in integers so that the CPU
    interpreter (whose bfloat16 cast truncates) rounds exactly as the GPU does. Never NaN here."""
    u = x.to(tl.uint32, bitcast=True).to(tl.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.to(tl.uint16).to(tl.int16, bitcast=True)


@triton.jit
def kgw_bias_kernel(
    logits_ptr,  # [batch, vocab] float32 / float16, or bfloat16 viewed as int16 (IS_BF16)
    ids_ptr,  # [batch, ids_len] int32 / int64, ids_len >= WIDTH
    keys_ptr,  # [batch or 1, 4] int32 (uint32 bits)
    thresholds_ptr,  # [batch or 1] int32 (uint32 bits)
    deltas_ptr,  # [batch or 1] float32
    enabled_ptr,  # [batch] uint8, or None (HAS_ENABLED False)
    vocab,
    logits_row_stride,
    ids_len,
    ids_row_stride,
    key_stride,  # 4, or 0 to broadcast one key
    param_stride_t,  # 1, or 0 to broadcast one threshold
    param_stride_d,  # 1, or 0 to broadcast one delta
    WIDTH: tl.constexpr,
    SEEDING: tl.constexpr,
    HAS_ENABLED: tl.constexpr,
    IS_BF16: tl.constexpr,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    if HAS_ENABLED:
        on = tl.load(enabled_ptr + row) != 0
    else:
        on = row >= 0
    ctx = context_hash(ids_ptr + row * ids_row_stride + (ids_len - WIDTH), on, WIDTH, SEEDING)
    kp = keys_ptr + row * key_stride
    k0 = tl.load(kp).to(tl.uint32, bitcast=True)
    k1 = tl.load(kp + 1).to(tl.uint32, bitcast=True)
    k2 = tl.load(kp + 2).to(tl.uint32, bitcast=True)
    k3 = tl.load(kp + 3).to(tl.uint32, bitcast=True)
    threshold = tl.load(thresholds_ptr + row * param_stride_t).to(tl.uint32, bitcast=True)
    delta = tl.load(deltas_ptr + row * param_stride_d)

    QUARTER: tl.constexpr = BLOCK // 4
    blocks = tl.program_id(1) * QUARTER + tl.arange(0, QUARTER)  # token ids // 4
    lanes = tl.arange(0, 4)  # token ids % 4
    cols = blocks[:, None] * 4 + lanes[None, :]  # [QUARTER, 4]
    # A disabled row masks every column. (Not `(cols < vocab) & on`: triton 3.9's interpreter
    # turns a block bool & a scalar bool into uint8, which tl.load then rejects as a mask.)
    mask = cols < tl.where(on, vocab, 0)
    w0, w1, w2, w3 = prf_block(k0, k1, k2, k3, ctx, blocks.to(tl.uint32), DOMAIN_KGW_GREEN)
    word = select_word(w0[:, None], w1[:, None], w2[:, None], w3[:, None], lanes[None, :])
    green = word < threshold

    ptrs = logits_ptr + row * logits_row_stride + cols
    x = tl.load(ptrs, mask=mask, other=0)
    if IS_BF16:
        xf = bf16_bits_to_f32(x)
        new = _f32_to_bf16_bits(xf + delta)
    else:
        xf = x.to(tl.float32)
        new = (xf + delta).to(x.dtype)
    # NaN entries keep their exact bits: the original value, not a re-rounded one.
    tl.store(ptrs, tl.where(green & (xf == xf), new, x), mask=mask)
