"""Positions of ragged documents ``tokens[offsets[d]:offsets[d+1]]``: which document a flat
position belongs to and whether it is scored. Shared by the scoring kernels."""

import triton
import triton.language as tl


@triton.jit
def scored_positions(
    offsets_ptr,  # [n_docs + 1] int64: 0, non-decreasing, n_tokens
    prefix_ptr,  # [n_docs] int64 context-only tokens per document, or None (HAS_PREFIX False)
    pos,  # [BLOCK] int64 flat positions
    valid,  # [BLOCK] bool: pos < n_tokens
    n_docs,
    WIDTH: tl.constexpr,
    HAS_PREFIX: tl.constexpr,
    SEARCH_STEPS: tl.constexpr,  # >= ceil(log2(n_docs)); constexpr: few distinct values
):
    """``(doc, doc_start, scored)`` of each position: position ``pos`` of document ``doc`` is
    scored when ``pos - doc_start >= max(WIDTH, prefix[doc])``."""
    # The document of each position: the last d with offsets[d] <= pos (empty documents never
    # win: offsets[d] == offsets[d + 1] <= pos). Invariant: offsets[lo] <= pos < offsets[hi].
    lo = tl.zeros(pos.shape, tl.int64)
    hi = lo + n_docs
    for _ in range(SEARCH_STEPS):
        mid = (lo + hi) // 2
        go = tl.load(offsets_ptr + mid, mask=valid, other=0) <= pos
        lo = tl.where(go, mid, lo)
        hi = tl.where(go, hi, mid)
    doc = lo
    doc_start = tl.load(offsets_ptr + doc, mask=valid, other=0)
    skip = tl.zeros(pos.shape, tl.int64) + WIDTH
    if HAS_PREFIX:
        skip = tl.maximum(skip, tl.load(prefix_ptr + doc, mask=valid, other=0))
    return doc, doc_start, valid & (pos - doc_start >= skip)
