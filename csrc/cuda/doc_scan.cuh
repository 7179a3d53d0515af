// The ragged scoring of score_kgw, score_gumbel and score_synthid on CUDA, and of the vLLM and
// SGLang dialects. Device helpers: a cursor on the document of a position, loops over a warp's
// positions, and the dedup hash table whose slots hold positions (kgw_score.cu explains the
// scheme), probed for any key (probe_insert, probe_holds) or for our schemes' (document, context
// hash, token) keys. `Args` is a score-args struct deriving from DocArgs (common_params.h). Host
// side: the launch checks and geometry they share, the launcher of the count scans (KGW,
// SynthID) and that of the term scans (Gumbel, vLLM, SGLang).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "launch.h"
#include "tokenmark/common_params.h"
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

// Probes the table from slot `s` for position pos's key (`same(q)`: whether stored position q
// has it); returns true when pos claimed a fresh slot (the first of its key to arrive). With
// keep_min the slot ends holding the key's lowest position. The table is at most half full, so
// probing ends.
template <typename Same>
__device__ __forceinline__ bool probe_insert(uint32_t* table, uint32_t cap, uint32_t s,
                                             uint32_t pos, bool keep_min, Same same) {
  for (;; s = next_slot(s, cap)) {
    const uint32_t p = atomicCAS(table + s, kEmptySlot, pos);
    if (p == kEmptySlot) return true;
    if (same(p)) {
      // Slot values only decrease, so p < pos means the minimum is already below pos.
      if (keep_min && pos < p) atomicMin(table + s, pos);
      return false;
    }
  }
}

// Whether position pos holds its key's slot, probing from slot `s` (after inserts with
// keep_min: the key's lowest position, the one that counts).
template <typename Same>
__device__ __forceinline__ bool probe_holds(const uint32_t* table, uint32_t cap, uint32_t s,
                                            uint32_t pos, Same same) {
  for (;; s = next_slot(s, cap)) {
    const uint32_t p = table[s];
    if (p == pos) return true;
    if (p == kEmptySlot || same(p)) return false;
  }
}

// probe_insert of a (document, context hash, token) key.
template <typename Args>
__device__ __forceinline__ bool dedup_insert(const Args& a, uint32_t* table, uint32_t cap,
                                             const DocCursor& doc, uint32_t ctx, uint32_t tok,
                                             uint32_t pos, bool keep_min) {
  return probe_insert(table, cap, home_slot(doc.d, ctx, tok, cap), pos, keep_min,
                      [&](uint32_t p) { return same_key(a, doc, p, ctx, tok); });
}

// probe_holds of a (document, context hash, token) key.
template <typename Args>
__device__ __forceinline__ bool holds_slot(const Args& a, const uint32_t* table, uint32_t cap,
                                           const DocCursor& doc, uint32_t ctx, uint32_t tok,
                                           uint32_t pos) {
  return probe_holds(table, cap, home_slot(doc.d, ctx, tok, cap), pos,
                     [&](uint32_t p) { return same_key(a, doc, p, ctx, tok); });
}

// The warp's token range [w0, w1).
__device__ __forceinline__ void warp_range(int64_t n_tokens, int64_t warp_span, int64_t* w0,
                                           int64_t* w1) {
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  *w0 = warp * warp_span;
  *w1 = *w0 + warp_span < n_tokens ? *w0 + warp_span : n_tokens;
}

// f(i, doc) for each position i of the calling warp's range, `doc` its document's cursor (lanes
// take every 32nd position).
template <typename Args, typename F>
__device__ __forceinline__ void each_position(const Args& a, int64_t warp_span, F f) {
  int64_t w0, w1;
  warp_range(a.n_tokens, warp_span, &w0, &w1);
  DocCursor doc;
  for (int64_t i = w0 + (threadIdx.x & 31); i < w1; i += 32) {
    if (i >= doc.hi) doc.seek(a, i);
    f(i, doc);
  }
}

// f(i, doc) for each scored position i of the calling warp's range.
template <typename Args, typename F>
__device__ __forceinline__ void each_scored_position(const Args& a, int64_t warp_span, F f) {
  each_position(a, warp_span, [&](int64_t i, const DocCursor& doc) {
    if (i >= doc.begin) f(i, doc);
  });
}

// For each position i of the calling warp's range: `f(i, doc)` at a scored one, whether it
// counts (0 elsewhere), stored into the counted flags when they are wanted.
template <typename Args, typename F>
__device__ __forceinline__ void each_position_counted(const Args& a, int64_t warp_span, F f) {
  each_position(a, warp_span, [&](int64_t i, const DocCursor& doc) {
    const uint8_t counted = i >= doc.begin ? f(i, doc) : 0;
    if (a.counted) a.counted[i] = counted;
  });
}

// Tokens per thread below which extra blocks cost more than they bring.
constexpr int64_t kMinTokensPerThread = 16;

// Bytes of the dedup hash table: 2 * n_tokens 32-bit slots with dedup, none without.
inline size_t dedup_table_bytes(int64_t n_tokens, bool dedup) {
  return dedup && n_tokens > 0 ? static_cast<size_t>(2 * n_tokens) * sizeof(uint32_t) : 0;
}

// What a scoring launch needs to run safely (the bindings check the rest): sane sizes, a
// workspace of `needed` bytes aligned to `align`, positions that fit the 32-bit table slots.
inline cudaError_t check_scan_args(const DocArgs& a, const void* workspace, size_t workspace_bytes,
                                   size_t needed, size_t align) {
  if (a.n_tokens < 0 || a.n_docs < 0 || a.width < 0) return cudaErrorInvalidValue;
  if (a.n_docs == 0 && a.n_tokens != 0) return cudaErrorInvalidValue;
  if (a.dedup && a.n_tokens > INT32_MAX) return cudaErrorInvalidValue;
  if (workspace_bytes < needed) return cudaErrorInvalidValue;
  if (needed > 0 && (workspace == nullptr || reinterpret_cast<uintptr_t>(workspace) % align)) {
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

// Blocks of the one-thread-per-document kernels.
inline int doc_grid(int64_t n_docs, int grid_cap) {
  const int64_t blocks = ceil_div(n_docs, kThreads);
  return static_cast<int>(blocks < grid_cap ? blocks : grid_cap);
}

// Geometry of the token-parallel kernels: `grid` blocks, each warp owning `warp_span`
// consecutive tokens (warp_range).
struct TokenGrid {
  int grid;
  int64_t warp_span;
};

inline TokenGrid token_grid(int64_t n_tokens, int grid_cap) {
  const int64_t want_blocks = ceil_div(n_tokens, kThreads * kMinTokensPerThread);
  const int grid = static_cast<int>(want_blocks < grid_cap ? want_blocks : grid_cap);
  const int64_t n_warps = static_cast<int64_t>(grid) * (kThreads / 32);
  // Multiples of 32 keep every warp's loads and flag stores aligned to whole sectors.
  return TokenGrid{grid, ceil_div(ceil_div(n_tokens, n_warps), 32) * 32};
}

// The kernels of a count scan: `init` (one thread per document) zeroes the counts and, without
// dedup, writes n_scored's closed form; `count_plain` / `count_dedup` add up the counts (the
// latter claiming pairs in the table); `mark_counted` (dedup with counted flags) marks the
// position holding each pair's slot.
template <typename Args>
struct CountScanKernels {
  void (*init)(Args);
  void (*count_plain)(Args, uint32_t*, uint32_t, int64_t);
  void (*count_dedup)(Args, uint32_t*, uint32_t, int64_t);
  void (*mark_counted)(Args, const uint32_t*, uint32_t, int64_t);
};

// Launches a count scan: integer counts by atomics, exact in any order. `workspace` holds
// dedup_table_bytes(a.n_tokens, a.dedup) bytes, 4-byte aligned.
template <typename Args>
cudaError_t launch_count_scan(const Args& a, const CountScanKernels<Args>& k, void* workspace,
                              size_t workspace_bytes, cudaStream_t stream) {
  const size_t table_bytes = dedup_table_bytes(a.n_tokens, a.dedup);
  cudaError_t err = check_scan_args(a, workspace, workspace_bytes, table_bytes, 4);
  if (err != cudaSuccess || a.n_docs == 0) return err;
  int grid_cap = 0;
  err = device_grid_cap(&grid_cap);
  if (err != cudaSuccess) return err;
  k.init<<<doc_grid(a.n_docs, grid_cap), kThreads, 0, stream>>>(a);
  err = cudaGetLastError();
  if (err != cudaSuccess || a.n_tokens == 0) return err;

  uint32_t* table = static_cast<uint32_t*>(workspace);
  const uint32_t cap = static_cast<uint32_t>(2 * a.n_tokens);
  if (a.dedup) {
    err = cudaMemsetAsync(table, 0xFF, table_bytes, stream);  // every slot kEmptySlot
    if (err != cudaSuccess) return err;
  }
  const TokenGrid g = token_grid(a.n_tokens, grid_cap);
  if (a.dedup) {
    k.count_dedup<<<g.grid, kThreads, 0, stream>>>(a, table, cap, g.warp_span);
    if (a.counted) k.mark_counted<<<g.grid, kThreads, 0, stream>>>(a, table, cap, g.warp_span);
  } else {
    k.count_plain<<<g.grid, kThreads, 0, stream>>>(a, nullptr, 0, g.warp_span);
  }
  return cudaGetLastError();
}

// The kernels of a term scan (score_gumbel, score_vllm, score_sglang): `insert` (dedup) claims
// each key's slot for its lowest position; `term_dedup` / `term_plain` write each position's
// float64 term(s) (NaN where it does not count) and, where a position's count is settled there,
// the counted flags; `sum` (one thread per document) adds a document's terms in token order
// (SGLang's writes the flags: its first max_contexts count).
template <typename Args>
struct TermScanKernels {
  void (*insert)(Args, uint32_t*, uint32_t, int64_t);
  void (*term_dedup)(Args, const uint32_t*, uint32_t, int64_t, double*);
  void (*term_plain)(Args, const uint32_t*, uint32_t, int64_t, double*);
  void (*sum)(Args, const double*);
};

// Launches a term scan over the checked arguments `a`: `term` holds the terms (`term_values`
// doubles), followed by the dedup table (dedup_table_bytes).
template <typename Args>
cudaError_t launch_term_scan(const Args& a, const TermScanKernels<Args>& k, double* term,
                             int64_t term_values, cudaStream_t stream) {
  int grid_cap = 0;
  cudaError_t err = device_grid_cap(&grid_cap);
  if (err != cudaSuccess) return err;
  if (a.n_tokens > 0) {
    uint32_t* table = reinterpret_cast<uint32_t*>(term + term_values);
    const uint32_t cap = static_cast<uint32_t>(2 * a.n_tokens);
    const TokenGrid g = token_grid(a.n_tokens, grid_cap);
    if (a.dedup) {
      err = cudaMemsetAsync(table, 0xFF, dedup_table_bytes(a.n_tokens, true), stream);
      if (err != cudaSuccess) return err;
      k.insert<<<g.grid, kThreads, 0, stream>>>(a, table, cap, g.warp_span);
      k.term_dedup<<<g.grid, kThreads, 0, stream>>>(a, table, cap, g.warp_span, term);
    } else {
      k.term_plain<<<g.grid, kThreads, 0, stream>>>(a, nullptr, 0, g.warp_span, term);
    }
    err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  k.sum<<<doc_grid(a.n_docs, grid_cap), kThreads, 0, stream>>>(a, term);
  return cudaGetLastError();
}

}  // namespace tokenmark::cuda
