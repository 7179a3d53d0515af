// Device helpers of the ragged scoring kernels (score_kgw, score_gumbel): a cursor on the
// document of a position, and the dedup hash table of (document, context hash, token) keys whose
// slots hold positions (kgw_score.cu explains the scheme). `Args` is a score-args struct with
// tokens, n_tokens, offsets, n_docs, prefix, width and seeding.
#pragma once

#include <cstdint>

#include "tokenmark/prf.h"

namespace tokenmark::cuda {

constexpr uint32_t kEmptySlot = 0xFFFFFFFFu;

// The document holding position i: the last d' >= d with offsets[d'] <= i. Requires
// offsets[d] <= i < offsets[n_docs] (so the answer is a non-empty document).
__device__ __forceinline__ int64_t find_doc(const int64_t* offsets, int64_t n_docs, int64_t d,
                                            int64_t i) {
  int64_t lo = d, hi = d + 1, step = 1;
  while (hi < n_docs && offsets[hi] <= i) {
    lo = hi;
    step <<= 1;
    hi = lo + step;
  }
  if (hi > n_docs) hi = n_docs;
  // offsets[lo] <= i < offsets[hi]
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (offsets[mid] <= i) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// A lane's current document: [lo, hi), scored from `begin` on.
struct DocCursor {
  int64_t d = 0, lo = 0, hi = 0, begin = 0;

  template <typename Args>
  __device__ void seek(const Args& a, int64_t i) {
    d = find_doc(a.offsets, a.n_docs, d, i);
    lo = a.offsets[d];
    hi = a.offsets[d + 1];
    // Written as lo + min(len, skip) so a huge prefix cannot overflow.
    int64_t skip = a.prefix ? a.prefix[d] : 0;
    if (skip < a.width) skip = a.width;
    begin = lo + (hi - lo < skip ? hi - lo : skip);
  }
};

template <typename Args>
__device__ __forceinline__ uint32_t pos_context(const Args& a, int64_t i) {
  return context_hash(a.tokens + i - a.width, a.width, a.seeding);
}

// Home slot of a (document, context hash, token) key: splitmix64's finaliser, then the high 32
// bits scaled onto [0, cap) (no power-of-two table needed).
__device__ __forceinline__ uint32_t home_slot(int64_t d, uint32_t ctx, uint32_t tok, uint32_t cap) {
  uint64_t x = ((static_cast<uint64_t>(ctx) << 32) | tok) ^
               (static_cast<uint64_t>(d) * 0x9E3779B97F4A7C15ull);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return static_cast<uint32_t>(((x >> 32) * cap) >> 32);
}

// Whether stored position p holds the same (document, context hash, token) key. Only scored
// positions enter the table, so p in [lo, hi) has its full context inside the document.
template <typename Args>
__device__ __forceinline__ bool same_key(const Args& a, const DocCursor& doc, uint32_t p,
                                         uint32_t ctx, uint32_t tok) {
  return p >= doc.lo && p < doc.hi && static_cast<uint32_t>(a.tokens[p]) == tok &&
         pos_context(a, p) == ctx;
}

__device__ __forceinline__ uint32_t next_slot(uint32_t s, uint32_t cap) {
  return s + 1 == cap ? 0 : s + 1;
}

// Inserts position pos; returns true when it claimed a fresh slot (first of its key to arrive).
// The table is at most half full, so probing ends.
template <typename Args>
__device__ __forceinline__ bool dedup_insert(const Args& a, uint32_t* table, uint32_t cap,
                                             const DocCursor& doc, uint32_t ctx, uint32_t tok,
                                             uint32_t pos, bool keep_min) {
  for (uint32_t s = home_slot(doc.d, ctx, tok, cap);; s = next_slot(s, cap)) {
    const uint32_t p = atomicCAS(table + s, kEmptySlot, pos);
    if (p == kEmptySlot) return true;
    if (same_key(a, doc, p, ctx, tok)) {
      // Slot values only decrease, so p < pos means the minimum is already below pos.
      if (keep_min && pos < p) atomicMin(table + s, pos);
      return false;
    }
  }
}

// Whether position pos holds its key's slot (the minimum position, after inserts with
// keep_min): the position that counts its pair.
template <typename Args>
__device__ __forceinline__ bool holds_slot(const Args& a, const uint32_t* table, uint32_t cap,
                                           const DocCursor& doc, uint32_t ctx, uint32_t tok,
                                           uint32_t pos) {
  for (uint32_t s = home_slot(doc.d, ctx, tok, cap);; s = next_slot(s, cap)) {
    const uint32_t p = table[s];
    if (p == pos) return true;
    if (p == kEmptySlot || same_key(a, doc, p, ctx, tok)) return false;
  }
}

// The warp's token range [w0, w1).
__device__ __forceinline__ void warp_range(int64_t n_tokens, int64_t warp_span, int64_t* w0,
                                           int64_t* w1) {
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  *w0 = warp * warp_span;
  *w1 = *w0 + warp_span < n_tokens ? *w0 + warp_span : n_tokens;
}

}  // namespace tokenmark::cuda
