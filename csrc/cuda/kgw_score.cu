// score_kgw on CUDA: ragged documents tokens[offsets[d]:offsets[d+1]].
//
// Every warp owns one contiguous token range and its lanes stride through it 32 apart, so token
// and context loads coalesce. Each lane keeps a cursor on the document of its current position
// (a galloping search from the previous one: cheap for long documents and for runs of empty or
// one-token documents alike) and sums its counts for that document in registers, flushing them
// with one atomic per (lane, document).
//
// Dedup counts each (context hash, token) pair once per document. A global open-addressing
// table keyed by (document, context hash, token) holds one slot per distinct pair; the slot
// stores a position of the pair, and the thread whose CAS fills an empty slot counts the pair.
// Green depends only on the pair, so that claim also carries the pair's green flag: the counts
// equal those of the first occurrences. Which position claims is a race, so when per-position
// `counted` flags are wanted the slot keeps the lowest position (atomicMin) and a second pass
// marks exactly that position. Slots hold positions, not keys: a probe compares the token at
// the stored position and recomputes its context hash from the (read-only) tokens.
#include <cstdint>

#include "kgw_cuda.h"
#include "launch.h"
#include "tokenmark/kgw.h"

namespace tokenmark::cuda {
namespace {

constexpr uint32_t kEmptySlot = 0xFFFFFFFFu;
// Tokens per thread below which extra blocks cost more than they bring.
constexpr int64_t kMinTokensPerThread = 16;

// The document holding position i: the last d' >= d with offsets[d'] <= i. Requires
// offsets[d] <= i < offsets[n_docs] (so the answer is a non-empty document).
__device__ int64_t find_doc(const int64_t* offsets, int64_t n_docs, int64_t d, int64_t i) {
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

  __device__ void seek(const KgwScoreArgs& a, int64_t i) {
    d = find_doc(a.offsets, a.n_docs, d, i);
    lo = a.offsets[d];
    hi = a.offsets[d + 1];
    // Written as lo + min(len, skip) so a huge prefix cannot overflow.
    int64_t skip = a.prefix ? a.prefix[d] : 0;
    if (skip < a.width) skip = a.width;
    begin = lo + (hi - lo < skip ? hi - lo : skip);
  }
};

// prf_word(key, ctx, tok, kDomainKgwGreen) with the word picked by selects: prf_word's dynamic
// index into the 4-word block would put the block in local memory.
__device__ __forceinline__ bool green_token(const Key128& key, uint32_t ctx, uint32_t tok,
                                            uint32_t threshold) {
  const U32x4 w = prf_block(key, ctx, tok >> 2, kDomainKgwGreen);
  const bool odd = (tok & 1u) != 0;
  const uint32_t lo = odd ? w.v[1] : w.v[0];
  const uint32_t hi = odd ? w.v[3] : w.v[2];
  return kgw_is_green((tok & 2u) ? hi : lo, threshold);
}

__device__ __forceinline__ uint32_t pos_context(const KgwScoreArgs& a, int64_t i) {
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
__device__ __forceinline__ bool same_key(const KgwScoreArgs& a, const DocCursor& doc, uint32_t p,
                                         uint32_t ctx, uint32_t tok) {
  return p >= doc.lo && p < doc.hi && static_cast<uint32_t>(a.tokens[p]) == tok &&
         pos_context(a, p) == ctx;
}

__device__ __forceinline__ uint32_t next_slot(uint32_t s, uint32_t cap) {
  return s + 1 == cap ? 0 : s + 1;
}

// Inserts position pos; returns true when it claimed a fresh slot (first of its key to arrive).
// The table is at most half full, so probing ends.
__device__ __forceinline__ bool dedup_insert(const KgwScoreArgs& a, uint32_t* table, uint32_t cap,
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

__device__ __forceinline__ void flush_counts(const KgwScoreArgs& a, int64_t d, int64_t scored,
                                             int64_t greens) {
  if (scored != 0) {
    atomicAdd(reinterpret_cast<unsigned long long*>(a.n_scored + d),
              static_cast<unsigned long long>(scored));
  }
  if (greens != 0) {
    atomicAdd(reinterpret_cast<unsigned long long*>(a.n_green + d),
              static_cast<unsigned long long>(greens));
  }
}

// Zeroes the counts; without dedup n_scored has a closed form (positions past the skip).
__global__ void init_counts_kernel(KgwScoreArgs a) {
  for (int64_t d = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; d < a.n_docs;
       d += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    a.n_green[d] = 0;
    if (a.dedup) {
      a.n_scored[d] = 0;
    } else {
      DocCursor doc;
      doc.d = d;
      doc.lo = a.offsets[d];
      doc.hi = a.offsets[d + 1];
      int64_t skip = a.prefix ? a.prefix[d] : 0;
      if (skip < a.width) skip = a.width;
      a.n_scored[d] = doc.hi - doc.lo < skip ? 0 : doc.hi - doc.lo - skip;
    }
  }
}

// The warp's token range [w0, w1).
__device__ __forceinline__ void warp_range(int64_t n_tokens, int64_t warp_span, int64_t* w0,
                                           int64_t* w1) {
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  *w0 = warp * warp_span;
  *w1 = *w0 + warp_span < n_tokens ? *w0 + warp_span : n_tokens;
}

// Pass 1: green flags, counts; with dedup, table inserts.
template <bool kDedup>
__global__ void __launch_bounds__(kThreads)
    score_kernel(KgwScoreArgs a, uint32_t* table, uint32_t cap, int64_t warp_span) {
  int64_t w0, w1;
  warp_range(a.n_tokens, warp_span, &w0, &w1);
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  const bool keep_min = a.counted != nullptr;
  DocCursor doc;
  int64_t acc_doc = -1, acc_scored = 0, acc_green = 0;
  for (int64_t i = w0 + (threadIdx.x & 31); i < w1; i += 32) {
    if (i >= doc.hi) {
      if (acc_doc >= 0) flush_counts(a, acc_doc, acc_scored, acc_green);
      doc.seek(a, i);
      acc_doc = doc.d;
      acc_scored = acc_green = 0;
    }
    int8_t flag = -1;
    if (i >= doc.begin) {
      const uint32_t tok = static_cast<uint32_t>(a.tokens[i]);
      const uint32_t ctx = pos_context(a, i);
      const bool green = green_token(key, ctx, tok, a.threshold);
      flag = green ? 1 : 0;
      if (!kDedup) {
        acc_green += green;  // n_scored has a closed form, written by init_counts_kernel
      } else if (dedup_insert(a, table, cap, doc, ctx, tok, static_cast<uint32_t>(i), keep_min)) {
        acc_scored += 1;
        acc_green += green;
      }
    }
    if (a.green) a.green[i] = flag;
    if (!kDedup && a.counted) a.counted[i] = flag >= 0 ? 1 : 0;
  }
  if (acc_doc >= 0) flush_counts(a, acc_doc, acc_scored, acc_green);
}

// Pass 2 (dedup with flags): a position is counted when its key's slot holds it, the minimum.
__global__ void __launch_bounds__(kThreads)
    mark_counted_kernel(KgwScoreArgs a, const uint32_t* table, uint32_t cap, int64_t warp_span) {
  int64_t w0, w1;
  warp_range(a.n_tokens, warp_span, &w0, &w1);
  DocCursor doc;
  for (int64_t i = w0 + (threadIdx.x & 31); i < w1; i += 32) {
    if (i >= doc.hi) doc.seek(a, i);
    uint8_t counted = 0;
    if (i >= doc.begin) {
      const uint32_t tok = static_cast<uint32_t>(a.tokens[i]);
      const uint32_t ctx = pos_context(a, i);
      const uint32_t pos = static_cast<uint32_t>(i);
      for (uint32_t s = home_slot(doc.d, ctx, tok, cap);; s = next_slot(s, cap)) {
        const uint32_t p = table[s];
        if (p == pos) {
          counted = 1;
          break;
        }
        if (p == kEmptySlot || same_key(a, doc, p, ctx, tok)) break;
      }
    }
    a.counted[i] = counted;
  }
}

}  // namespace

size_t score_kgw_workspace_bytes(int64_t n_tokens, bool dedup) {
  return dedup && n_tokens > 0 ? static_cast<size_t>(2 * n_tokens) * sizeof(uint32_t) : 0;
}

cudaError_t score_kgw_cuda(const KgwScoreArgs& a, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream) {
  if (a.n_tokens < 0 || a.n_docs < 0 || a.width < 0) return cudaErrorInvalidValue;
  if (a.n_docs == 0) return a.n_tokens == 0 ? cudaSuccess : cudaErrorInvalidValue;
  if (a.dedup && a.n_tokens > INT32_MAX) return cudaErrorInvalidValue;
  const size_t table_bytes = score_kgw_workspace_bytes(a.n_tokens, a.dedup);
  if (workspace_bytes < table_bytes) return cudaErrorInvalidValue;
  if (table_bytes > 0 && (workspace == nullptr || reinterpret_cast<uintptr_t>(workspace) % 4)) {
    return cudaErrorInvalidValue;
  }
  int grid_cap = 0;
  cudaError_t err = device_grid_cap(&grid_cap);
  if (err != cudaSuccess) return err;

  const int64_t doc_blocks = ceil_div(a.n_docs, kThreads);
  init_counts_kernel<<<static_cast<int>(doc_blocks < grid_cap ? doc_blocks : grid_cap), kThreads, 0,
                       stream>>>(a);
  err = cudaGetLastError();
  if (err != cudaSuccess || a.n_tokens == 0) return err;

  uint32_t* table = static_cast<uint32_t*>(workspace);
  const uint32_t cap = static_cast<uint32_t>(2 * a.n_tokens);
  if (a.dedup) {
    err = cudaMemsetAsync(table, 0xFF, table_bytes, stream);  // every slot kEmptySlot
    if (err != cudaSuccess) return err;
  }
  const int64_t want_blocks = ceil_div(a.n_tokens, kThreads * kMinTokensPerThread);
  const int grid = static_cast<int>(want_blocks < grid_cap ? want_blocks : grid_cap);
  const int64_t n_warps = static_cast<int64_t>(grid) * (kThreads / 32);
  // Multiples of 32 keep every warp's loads and flag stores aligned to whole sectors.
  const int64_t warp_span = ceil_div(ceil_div(a.n_tokens, n_warps), 32) * 32;
  if (a.dedup) {
    score_kernel<true><<<grid, kThreads, 0, stream>>>(a, table, cap, warp_span);
    if (a.counted) mark_counted_kernel<<<grid, kThreads, 0, stream>>>(a, table, cap, warp_span);
  } else {
    score_kernel<false><<<grid, kThreads, 0, stream>>>(a, nullptr, 0, warp_span);
  }
  return cudaGetLastError();
}

}  // namespace tokenmark::cuda
