// score_synthid on CUDA: ragged documents tokens[offsets[d]:offsets[d+1]], the layout, lane
// cursors and dedup table of score_kgw (doc_scan.cuh; kgw_score.cu explains the scheme).
//
// The outputs are integer counts, so atomics give exact results in any order. Each lane keeps
// 32 per-layer counters of its current document in registers (the g-values of one token are the
// bits of one PRF word) and flushes them with one atomic per (lane, document, layer). With
// dedup the thread whose CAS claims a pair's slot counts it: g-values depend only on the pair,
// so the counts equal those of the first occurrences; the counted flags come from a second pass
// (the slot keeps the lowest position), as in score_kgw.
#include <cstdint>

#include "doc_scan.cuh"
#include "synthid_cuda.h"
#include "tokenmark/synthid.h"

namespace tokenmark::cuda {
namespace {

// A lane's counts for one document: tokens counted and per-layer ones, in registers.
struct LaneCounts {
  int64_t doc = -1;
  uint32_t scored = 0;
  uint32_t ones[kSynthIdMaxLayers];

  __device__ void reset(int64_t d) {
    doc = d;
    scored = 0;
#pragma unroll
    for (int l = 0; l < kSynthIdMaxLayers; ++l) ones[l] = 0;
  }

  __device__ void add(uint32_t word) {
    ++scored;
#pragma unroll
    for (int l = 0; l < kSynthIdMaxLayers; ++l) ones[l] += (word >> l) & 1u;
  }

  // n_scored is only accumulated with dedup (without, init_kernel writes its closed form).
  __device__ void flush(const SynthIdScoreArgs& a) {
    if (doc < 0 || scored == 0) return;
    if (a.dedup) {
      atomicAdd(reinterpret_cast<unsigned long long*>(a.n_scored + doc),
                static_cast<unsigned long long>(scored));
    }
    unsigned long long* ones_out = reinterpret_cast<unsigned long long*>(a.ones + doc * a.layers);
#pragma unroll
    for (int l = 0; l < kSynthIdMaxLayers; ++l) {
      if (l < a.layers && ones[l] != 0) atomicAdd(ones_out + l, ones[l]);
    }
  }
};

// Zeroes the counts; without dedup n_scored has a closed form (positions past the skip).
__global__ void init_kernel(SynthIdScoreArgs a) {
  for (int64_t d = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; d < a.n_docs;
       d += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    for (int l = 0; l < a.layers; ++l) a.ones[d * a.layers + l] = 0;
    const int64_t len = a.offsets[d + 1] - a.offsets[d];
    int64_t skip = a.prefix ? a.prefix[d] : 0;
    if (skip < a.width) skip = a.width;
    a.n_scored[d] = a.dedup || len < skip ? 0 : len - skip;
  }
}

// Pass 1: counts; with dedup, table inserts (the claiming position counts).
template <bool kDedup>
__global__ void __launch_bounds__(kThreads)
    score_kernel(SynthIdScoreArgs a, uint32_t* table, uint32_t cap, int64_t warp_span) {
  int64_t w0, w1;
  warp_range(a.n_tokens, warp_span, &w0, &w1);
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  const bool keep_min = a.counted != nullptr;
  DocCursor doc;
  LaneCounts acc;
  for (int64_t i = w0 + (threadIdx.x & 31); i < w1; i += 32) {
    if (i >= doc.hi) {
      acc.flush(a);
      doc.seek(a, i);
      acc.reset(doc.d);
    }
    bool counted = false;
    if (i >= doc.begin) {
      const uint32_t tok = static_cast<uint32_t>(a.tokens[i]);
      const uint32_t ctx = pos_context(a, i);
      counted =
          !kDedup || dedup_insert(a, table, cap, doc, ctx, tok, static_cast<uint32_t>(i), keep_min);
      if (counted) acc.add(synthid_g_word(key, ctx, tok));
    }
    if (!kDedup && a.counted) a.counted[i] = counted ? 1 : 0;
  }
  acc.flush(a);
}

// Pass 2 (dedup with flags): a position is counted when its key's slot holds it, the minimum.
__global__ void __launch_bounds__(kThreads)
    mark_counted_kernel(SynthIdScoreArgs a, const uint32_t* table, uint32_t cap,
                        int64_t warp_span) {
  int64_t w0, w1;
  warp_range(a.n_tokens, warp_span, &w0, &w1);
  DocCursor doc;
  for (int64_t i = w0 + (threadIdx.x & 31); i < w1; i += 32) {
    if (i >= doc.hi) doc.seek(a, i);
    uint8_t counted = 0;
    if (i >= doc.begin) {
      const uint32_t tok = static_cast<uint32_t>(a.tokens[i]);
      counted = holds_slot(a, table, cap, doc, pos_context(a, i), tok, static_cast<uint32_t>(i));
    }
    a.counted[i] = counted;
  }
}

}  // namespace

size_t score_synthid_workspace_bytes(int64_t n_tokens, bool dedup) {
  return dedup_table_bytes(n_tokens, dedup);
}

cudaError_t score_synthid_cuda(const SynthIdScoreArgs& a, void* workspace, size_t workspace_bytes,
                               cudaStream_t stream) {
  if (a.layers < 1 || a.layers > kSynthIdMaxLayers) return cudaErrorInvalidValue;
  const CountScanKernels<SynthIdScoreArgs> kernels{init_kernel, score_kernel<false>,
                                                   score_kernel<true>, mark_counted_kernel};
  return launch_count_scan(a, kernels, workspace, workspace_bytes, stream);
}

}  // namespace tokenmark::cuda
