"""SynthID-Text scoring in Triton over ragged documents ``tokens[offsets[d]:offsets[d+1]]``.

One program per block of positions of the flat token array (as ``kgw_score``): each position
finds its document, hashes the ``WIDTH`` tokens before it and writes its g-value word (all
``layers <= 32`` g-values of a token are the bits of one PRF word, docs/prf.md) and whether it
is scored, plus its context hash for deduplication on the host, which also counts the bits.
"""

import triton
import triton.language as tl

from .prf import DOMAIN_SYNTHID_G, context_hash, prf_word
from .ragged import scored_positions


@triton.jit(do_not_specialize=["k0", "k1", "k2", "k3"])
def synthid_word_kernel(
    tokens_ptr,  # [n_tokens] int32, all >= 0
    offsets_ptr,  # [n_docs + 1] int64: 0, non-decreasing, n_tokens
    prefix_ptr,  # [n_docs] int64 context-only tokens per document, or None (HAS_PREFIX False)
    scored_ptr,  # [n_tokens] uint8 out: 1 where the position is scored
    word_ptr,  # [n_tokens] int32 out: the g-value word (uint32 bits) where scored
    ctx_ptr,  # [n_tokens] int32 out (uint32 bits), or None (WRITE_CTX False)
    n_tokens,
    n_docs,
    k0,  # key words: int32 bit patterns of uint32
    k1,
    k2,
    k3,
    WIDTH: tl.constexpr,
    SEEDING: tl.constexpr,
    HAS_PREFIX: tl.constexpr,
    WRITE_CTX: tl.constexpr,
    SEARCH_STEPS: tl.constexpr,  # >= ceil(log2(n_docs))
    BLOCK: tl.constexpr,
):
    pos = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    valid = pos < n_tokens
    _, _, scored = scored_positions(
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
        DOMAIN_SYNTHID_G,
    )
    tl.store(scored_ptr + pos, scored.to(tl.uint8), mask=valid)
    tl.store(word_ptr + pos, tl.where(scored, word, 0).to(tl.int32, bitcast=True), mask=valid)
    if WRITE_CTX:
        tl.store(ctx_ptr + pos, ctx.to(tl.int32, bitcast=True), mask=valid)
