"""Gumbel-max sampling in Triton: per row, ``argmax_v float64(logit_v) + G(key, ctx, v)``.

A few programs per row, each over one contiguous split of the vocabulary. Each decides whether
the row is watermarked (enabled, at least ``WIDTH`` ids, and with ``SKIP_REPEATED`` no earlier
position of the row with the same context hash, searched IDS_BLOCK positions at a time), then
scans its split BLOCK ids at a time as a [BLOCK // 4, 4] tile (one Philox call gives the words
of four neighbouring ids, as in ``kgw_bias``), keeping the best (score, id) seen;
``gumbel_pick_kernel`` then picks each row's best split. The first maximum wins, so ties go to
the lowest id; -inf and NaN logits never win (``x > -inf`` is false for both).
"""

import triton
import triton.language as tl
from triton.language.extra import libdevice

from .kgw_bias import bf16_bits_to_f32
from .prf import DOMAIN_GUMBEL, context_hash, prf_block, select_word

INV_TWO32 = tl.constexpr(1.0 / 4294967296.0)
NOT_WATERMARKED = tl.constexpr(-1)
NO_FINITE_LOGIT = tl.constexpr(-2)
NO_ID = tl.constexpr(2**31 - 1)  # above every column index: "no candidate in this block"


@triton.jit
def log64(x, INTERPRETED: tl.constexpr):
    """The float64 natural log: libdevice's ``log`` (CUDA's, within 1 ulp) when compiled. The
    interpreter has no libdevice (its calls return None) but runs ``tl.log`` in numpy, the
    reference's own log."""
    if INTERPRETED:
        return tl.log(x)
    else:
        return libdevice.log(x)


@triton.jit
def gumbel_noise(word, INTERPRETED: tl.constexpr):
    """Standard Gumbel noise ``-log(-log u)`` of a uint32 PRF word, float64, with
    ``u = (word + 0.5) / 2^32`` (exact, in (0, 1))."""
    u = (word.to(tl.float64) + 0.5) * INV_TWO32
    return -log64(-log64(u, INTERPRETED), INTERPRETED)


# Sizes are never specialised: a constexpr ids_len of 1 would turn `on` into a Python bool.
@triton.jit(do_not_specialize=["vocab", "ids_len", "split_cols"])
def gumbel_sample_kernel(
    logits_ptr,  # [batch, vocab] float32 / float16, or bfloat16 viewed as int16 (IS_BF16)
    ids_ptr,  # [batch, ids_len] int32 / int64
    keys_ptr,  # [batch or 1, 4] int32 (uint32 bits)
    salts_ptr,  # [batch or 1] int32 (uint32 bits)
    enabled_ptr,  # [batch] uint8, or None (HAS_ENABLED False)
    part_s_ptr,  # [batch, n_splits] float64 out: the best score of each split
    part_id_ptr,  # [batch, n_splits] int32 out: its id, NOT_WATERMARKED or NO_FINITE_LOGIT
    vocab,
    logits_row_stride,
    ids_len,
    ids_row_stride,
    key_stride,  # 4, or 0 to broadcast one key
    salt_stride,  # 1, or 0 to broadcast one salt
    split_cols,  # columns per split, a multiple of BLOCK
    WIDTH: tl.constexpr,
    SEEDING: tl.constexpr,
    SKIP_REPEATED: tl.constexpr,
    HAS_ENABLED: tl.constexpr,
    IS_BF16: tl.constexpr,
    IDS_BLOCK: tl.constexpr,
    BLOCK: tl.constexpr,
    INTERPRETED: tl.constexpr,  # running under TRITON_INTERPRET=1 (see log64)
):
    # Program (row, split) scans columns [split * split_cols, (split + 1) * split_cols): several
    # programs per row keep the GPU busy at small batch; gumbel_pick_kernel combines them.
    row = tl.program_id(0).to(tl.int64)
    split = tl.program_id(1)
    n_splits = tl.num_programs(1)
    on = ids_len >= WIDTH
    if HAS_ENABLED:
        on = on & (tl.load(enabled_ptr + row) != 0)
    ids = ids_ptr + row * ids_row_stride
    now = context_hash(ids + (ids_len - WIDTH), on, WIDTH, SEEDING)
    if SKIP_REPEATED:
        # Context hashes of positions j in [WIDTH, ids_len), the hash at j being that of
        # ids[j - WIDTH : j]; a disabled row searches nothing. Every split of the row repeats
        # the search (ids are few next to the vocabulary) rather than wait for another's.
        repeats = tl.zeros([], tl.int32)
        for start in range(WIDTH, tl.where(on, ids_len, 0), IDS_BLOCK):
            j = start + tl.arange(0, IDS_BLOCK)
            m = j < ids_len
            h = context_hash(ids + (j - WIDTH), m, WIDTH, SEEDING)
            repeats += tl.sum((m & (h == now)).to(tl.int32), 0)
        on = on & (repeats == 0)

    kp = keys_ptr + row * key_stride
    k0 = tl.load(kp).to(tl.uint32, bitcast=True)
    k1 = tl.load(kp + 1).to(tl.uint32, bitcast=True)
    k2 = tl.load(kp + 2).to(tl.uint32, bitcast=True)
    k3 = tl.load(kp + 3).to(tl.uint32, bitcast=True)
    ctx = now ^ tl.load(salts_ptr + row * salt_stride).to(tl.uint32, bitcast=True)

    QUARTER: tl.constexpr = BLOCK // 4
    lanes = tl.arange(0, 4)  # token ids % 4
    best_s = tl.full([], float("-inf"), tl.float64)
    best_id = tl.full([], -1, tl.int32)
    row_logits = logits_ptr + row * logits_row_stride
    first = split * split_cols
    last = tl.where(on, tl.minimum(vocab, first + split_cols), first)
    for start in range(first, last, BLOCK):
        blocks = start // 4 + tl.arange(0, QUARTER)  # token ids // 4
        cols = blocks[:, None] * 4 + lanes[None, :]  # [QUARTER, 4]
        mask = cols < vocab
        x = tl.load(row_logits + cols, mask=mask, other=0)
        if IS_BF16:
            x64 = bf16_bits_to_f32(x).to(tl.float64)
        else:
            x64 = x.to(tl.float32).to(tl.float64)
        w0, w1, w2, w3 = prf_block(k0, k1, k2, k3, ctx, blocks.to(tl.uint32), DOMAIN_GUMBEL)
        word = select_word(w0[:, None], w1[:, None], w2[:, None], w3[:, None], lanes[None, :])
        ok = mask & (x64 > float("-inf"))
        s = tl.where(ok, x64 + gumbel_noise(word, INTERPRETED), float("-inf"))
        block_best = tl.max(tl.max(s, 1), 0)
        block_id = tl.min(tl.min(tl.where(ok & (s == block_best), cols, NO_ID), 1), 0)
        # Strictly greater: an equal score of an earlier block (a lower id) keeps its place.
        better = (block_id != NO_ID) & ((best_id < 0) | (block_best > best_s))
        best_s = tl.where(better, block_best, best_s)
        best_id = tl.where(better, block_id, best_id)
    part = row * n_splits + split
    tl.store(part_s_ptr + part, best_s)
    tl.store(
        part_id_ptr + part,
        tl.where(on, tl.where(best_id < 0, NO_FINITE_LOGIT, best_id), NOT_WATERMARKED),
    )


@triton.jit
def gumbel_pick_kernel(
    part_s_ptr,  # [batch, n_splits] float64: gumbel_sample_kernel's best score per split
    part_id_ptr,  # [batch, n_splits] int32: its id, NOT_WATERMARKED or NO_FINITE_LOGIT
    out_ptr,  # [batch] int64 out: token, NOT_WATERMARKED or NO_FINITE_LOGIT
    n_splits,
    SPLITS: tl.constexpr,  # a power of two >= n_splits
):
    """The row's choice from its splits: the best score, the lowest id among equal ones."""
    row = tl.program_id(0).to(tl.int64)
    i = tl.arange(0, SPLITS)
    m = i < n_splits
    part_id = tl.load(part_id_ptr + row * n_splits + i, mask=m, other=NO_FINITE_LOGIT)
    part_s = tl.load(part_s_ptr + row * n_splits + i, mask=m, other=float("-inf"))
    found = part_id >= 0
    best = tl.max(tl.where(found, part_s, float("-inf")), 0)
    best_id = tl.min(tl.where(found & (part_s == best), part_id, NO_ID), 0)
    # Every split of a row agrees on whether the row is watermarked.
    result = tl.where(best_id == NO_ID, NO_FINITE_LOGIT, best_id)
    result = tl.where(
        tl.load(part_id_ptr + row * n_splits) == NOT_WATERMARKED, NOT_WATERMARKED, result
    )
    tl.store(out_ptr + row, result.to(tl.int64))
