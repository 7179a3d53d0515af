"""Gumbel scoring in Triton over ragged documents ``tokens[offsets[d]:offsets[d+1]]``.

Two kernels. ``gumbel_term_kernel`` runs one program per block of positions of the flat token
array (as ``kgw_score``): each position finds its document, hashes the ``WIDTH`` tokens before
it, XORs in its document's salt and writes its term ``-log(1 - u)``, and the salted context hash
for deduplication on the host. ``gumbel_sum_kernel`` then adds each document's terms in token
order, one program per document: the score is a float64 sum whose bits depend on the order, and
the specification (docs/prf.md) fixes token order, so it is neither a tree nor atomics.
"""

import triton
import triton.language as tl

from .gumbel_sample import log64
from .prf import DOMAIN_GUMBEL, context_hash, prf_word
from .ragged import scored_positions

TWO32 = tl.constexpr(4294967296.0)
INV_TWO32 = tl.constexpr(1.0 / 4294967296.0)  # exact: every step below is exact but the log


@triton.jit
def gumbel_score_term(word, INTERPRETED: tl.constexpr):
    """``-log(1 - u)`` of a uint32 PRF word, float64, with ``1 - u = (2^32 - word - 0.5) / 2^32``
    (exact, never 0)."""
    one_minus_u = (TWO32 - word.to(tl.float64) - 0.5) * INV_TWO32
    return -log64(one_minus_u, INTERPRETED)


@triton.jit(do_not_specialize=["k0", "k1", "k2", "k3"])
def gumbel_term_kernel(
    tokens_ptr,  # [n_tokens] int32, all >= 0
    offsets_ptr,  # [n_docs + 1] int64: 0, non-decreasing, n_tokens
    prefix_ptr,  # [n_docs] int64 context-only tokens per document, or None (HAS_PREFIX False)
    salts_ptr,  # [n_docs or 1] int32 (uint32 bits)
    term_ptr,  # [n_tokens] float64 out: the term where scored (always > 0), 0 elsewhere
    ctx_ptr,  # [n_tokens] int32 out (salted hash, uint32 bits), or None (WRITE_CTX False)
    n_tokens,
    n_docs,
    salt_stride,  # 1, or 0 to broadcast one salt
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
    INTERPRETED: tl.constexpr,  # running under TRITON_INTERPRET=1 (see gumbel_sample.log64)
):
    pos = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    valid = pos < n_tokens
    doc, _, scored = scored_positions(
        offsets_ptr, prefix_ptr, pos, valid, n_docs, WIDTH, HAS_PREFIX, SEARCH_STEPS
    )
    salt = tl.load(salts_ptr + doc * salt_stride, mask=valid, other=0).to(tl.uint32, bitcast=True)
    ctx = context_hash(tokens_ptr + pos - WIDTH, scored, WIDTH, SEEDING) ^ salt
    token = tl.load(tokens_ptr + pos, mask=valid, other=0).to(tl.uint32, bitcast=True)
    word = prf_word(
        k0.to(tl.uint32, bitcast=True),
        k1.to(tl.uint32, bitcast=True),
        k2.to(tl.uint32, bitcast=True),
        k3.to(tl.uint32, bitcast=True),
        ctx,
        token,
        DOMAIN_GUMBEL,
    )
    tl.store(
        term_ptr + pos, tl.where(scored, gumbel_score_term(word, INTERPRETED), 0.0), mask=valid
    )
    if WRITE_CTX:
        tl.store(ctx_ptr + pos, ctx.to(tl.int32, bitcast=True), mask=valid)


@triton.jit
def gumbel_sum_kernel(
    term_ptr,  # [n_tokens] float64: the counted terms, 0 at every other position
    offsets_ptr,  # [n_docs + 1] int64
    score_ptr,  # [n_docs] float64 out
):
    # Adding the zeros of uncounted positions leaves a sum of positive terms bit for bit as it
    # was, so this is the reference's sum over the counted terms.
    doc = tl.program_id(0).to(tl.int64)
    start = tl.load(offsets_ptr + doc)
    end = tl.load(offsets_ptr + doc + 1)
    total = tl.zeros([], tl.float64)
    for i in range(start, end):
        total += tl.load(term_ptr + i)
    tl.store(score_ptr + doc, total)
