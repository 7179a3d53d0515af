"""KGW scoring in Triton over ragged documents ``tokens[offsets[d]:offsets[d+1]]``.

One program per block of BLOCK positions of the flat token array, so a long document spreads
over many programs and short ones share a program. Each position finds its document by binary
search over ``offsets``, hashes the ``WIDTH`` tokens before it and writes its green flag (and,
for deduplication on the host side, its context hash).

Per-document counts without deduplication: a block holds contiguous segments of documents.
With inclusive block prefix sums ``cs`` of the scored and green flags, a segment [a, b] sums to
``cs[b] - (cs[a] - v[a])``: the last position of a segment adds ``cs[b]`` and the first one
subtracts ``cs[a] - v[a]``, so each segment costs at most two atomics, all elementwise.
"""

import triton
import triton.language as tl

from .prf import DOMAIN_KGW_GREEN, context_hash, prf_word
from .ragged import scored_positions


@triton.jit(do_not_specialize=["k0", "k1", "k2", "k3", "threshold"])
def kgw_score_kernel(
    tokens_ptr,  # [n_tokens] int32, all >= 0
    offsets_ptr,  # [n_docs + 1] int64: 0, non-decreasing, n_tokens
    prefix_ptr,  # [n_docs] int64 context-only tokens per document, or None (HAS_PREFIX False)
    green_ptr,  # [n_tokens] int8 out: 1 green, 0 red, -1 not scored
    ctx_ptr,  # [n_tokens] int32 out (uint32 bits), or None (WRITE_CTX False)
    n_scored_ptr,  # [n_docs] int64, zeroed, accumulated when COUNT
    n_green_ptr,  # [n_docs] int64, zeroed, accumulated when COUNT
    n_tokens,
    n_docs,
    k0,  # key words and threshold: int32 bit patterns of uint32
    k1,
    k2,
    k3,
    threshold,
    WIDTH: tl.constexpr,
    SEEDING: tl.constexpr,
    HAS_PREFIX: tl.constexpr,
    WRITE_CTX: tl.constexpr,
    COUNT: tl.constexpr,
    SEARCH_STEPS: tl.constexpr,  # >= ceil(log2(n_docs)); constexpr: few distinct values
    BLOCK: tl.constexpr,
):
    block_start = tl.program_id(0).to(tl.int64) * BLOCK
    pos = block_start + tl.arange(0, BLOCK)
    valid = pos < n_tokens

    doc, doc_start, scored = scored_positions(
        offsets_ptr, prefix_ptr, pos, valid, n_docs, WIDTH, HAS_PREFIX, SEARCH_STEPS
    )

    ctx = context_hash(tokens_ptr + pos - WIDTH, scored, WIDTH, SEEDING)
    token = tl.load(tokens_ptr + pos, mask=valid, other=0).to(tl.uint32, bitcast=True)
    word = prf_word(
        k0.to(tl.uint32, bitcast=True),
        k1.to(tl.uint32, bitcast=True),
        k2.to(tl.uint32, bitcast=True),
        k3.to(tl.uint32, bitcast=True),
        ctx,
        token,
        DOMAIN_KGW_GREEN,
    )
    green = scored & (word < threshold.to(tl.uint32, bitcast=True))
    flag = tl.where(scored, green.to(tl.int8), -1).to(tl.int8)
    tl.store(green_ptr + pos, flag, mask=valid)
    if WRITE_CTX:
        tl.store(ctx_ptr + pos, ctx.to(tl.int32, bitcast=True), mask=valid)

    if COUNT:
        doc_end = tl.load(offsets_ptr + doc + 1, mask=valid, other=0)
        block_last = tl.minimum(block_start + BLOCK, n_tokens) - 1
        first = valid & ((pos == doc_start) | (pos == block_start))
        last = valid & ((pos == doc_end - 1) | (pos == block_last))
        s = scored.to(tl.int64)
        g = green.to(tl.int64)
        cs_s = tl.cumsum(s, 0)
        cs_g = tl.cumsum(g, 0)
        add_s = tl.where(last, cs_s, 0) - tl.where(first, cs_s - s, 0)
        add_g = tl.where(last, cs_g, 0) - tl.where(first, cs_g - g, 0)
        tl.atomic_add(n_scored_ptr + doc, add_s, mask=add_s != 0, sem="relaxed")
        tl.atomic_add(n_green_ptr + doc, add_g, mask=add_g != 0, sem="relaxed")
