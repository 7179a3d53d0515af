// score_vllm on CUDA: the vLLM dialect's detector over ragged documents, in the shape of
// score_gumbel (gumbel_score.cu): (dedup) every scored position into a hash table keeping the
// lowest position per context; per position and key its term -log1p(-u) (NaN where the position
// does not count); per document the terms summed in token order.
#include <cstdint>
#include <limits>

#include "doc_scan.cuh"
#include "tokenmark/vllm.h"
#include "vllm_cuda.h"

namespace tokenmark::cuda {
namespace {

// Context word i (oldest first) of position p: the token context_width - i positions before
// it, or -1 before the document's scored part.
__device__ __forceinline__ uint32_t context_word(const VllmScoreArgs& a, const DocCursor& doc,
                                                 int64_t p, int i) {
  const int64_t q = p - a.context_width + i;
  return q >= doc.begin ? static_cast<uint32_t>(a.tokens[q]) : 0xFFFFFFFFu;
}

// The table's hash of a context (only a filter: equal contexts are decided by their words).
__device__ __forceinline__ uint32_t context_key(const VllmScoreArgs& a, const DocCursor& doc,
                                                int64_t p) {
  uint32_t h = kCtxSeedPrev;
  for (int i = 0; i < a.context_width; ++i) h = fmix32(h ^ context_word(a, doc, p, i));
  return h;
}

// Whether stored position q is a scored position of this document with p's context.
__device__ __forceinline__ bool same_context(const VllmScoreArgs& a, const DocCursor& doc,
                                             uint32_t q, int64_t p) {
  if (q < doc.begin || q >= doc.hi) return false;
  for (int i = 0; i < a.context_width; ++i) {
    if (context_word(a, doc, q, i) != context_word(a, doc, p, i)) return false;
  }
  return true;
}

// Pass 1 (dedup): every scored position into the table, the lowest position kept per context.
// The table is at most half full, so probing ends.
__global__ void __launch_bounds__(kThreads)
    insert_kernel(VllmScoreArgs a, uint32_t* table, uint32_t cap, int64_t warp_span) {
  each_scored_position(a, warp_span, [&](int64_t i, const DocCursor& doc) {
    probe_insert(table, cap, home_slot(doc.d, context_key(a, doc, i), 0, cap),
                 static_cast<uint32_t>(i), true,
                 [&](uint32_t q) { return same_context(a, doc, q, i); });
  });
}

// Whether position i holds its context's slot (the first occurrence, after pass 1).
__device__ __forceinline__ bool first_of_context(const VllmScoreArgs& a, const uint32_t* table,
                                                 uint32_t cap, const DocCursor& doc, int64_t i) {
  return probe_holds(table, cap, home_slot(doc.d, context_key(a, doc, i), 0, cap),
                     static_cast<uint32_t>(i),
                     [&](uint32_t q) { return same_context(a, doc, q, i); });
}

// Pass 2: term[k][i] = -log1p(-u) of key k where position i counts, NaN elsewhere in the scored
// part; the per-position counted flags.
template <bool kDedup>
__global__ void __launch_bounds__(kThreads)
    term_kernel(VllmScoreArgs a, const uint32_t* table, uint32_t cap, int64_t warp_span,
                double* term) {
  const double not_counted = std::numeric_limits<double>::quiet_NaN();
  each_position_counted(a, warp_span, [&](int64_t i, const DocCursor& doc) -> uint8_t {
    const bool counted = !kDedup || first_of_context(a, table, cap, doc, i);
    const uint32_t tok = static_cast<uint32_t>(a.tokens[i]);
    for (int k = 0; k < a.n_keys; ++k) {
      double t = not_counted;
      if (counted) {
        const uint32_t word = vllm_word(
            static_cast<uint32_t>(a.keys[k]), static_cast<uint32_t>(a.keys[k] >> 32),
            a.context_width, [&](int j) { return context_word(a, doc, i, j); }, tok);
        t = -log1p(-static_cast<double>(vllm_uniform(word)));
      }
      term[k * a.n_tokens + i] = t;
    }
    return counted;
  });
}

// Pass 3: per document, the counted positions' weighted terms added in token order, keys
// inner (the CPU's scalar order).
__global__ void sum_kernel(VllmScoreArgs a, const double* term) {
  for (int64_t d = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; d < a.n_docs;
       d += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t lo = a.offsets[d], hi = a.offsets[d + 1];
    const int64_t skip = a.prefix && a.prefix[d] > 0 ? a.prefix[d] : 0;
    int64_t n = 0;
    double total = 0.0;
    for (int64_t i = lo + (hi - lo < skip ? hi - lo : skip); i < hi; ++i) {
      if (term[i] != term[i]) continue;  // NaN: not counted
      for (int k = 0; k < a.n_keys; ++k) total += a.weights[k] * term[k * a.n_tokens + i];
      ++n;
    }
    a.n_scored[d] = n;
    a.score[d] = total;
  }
}

}  // namespace

size_t score_vllm_workspace_bytes(int64_t n_tokens, int n_keys, bool dedup) {
  if (n_tokens <= 0 || n_keys < 1 || n_keys > 2) return 0;
  return static_cast<size_t>(n_tokens) * n_keys * sizeof(double) +
         dedup_table_bytes(n_tokens, dedup);
}

cudaError_t score_vllm_cuda(const VllmScoreArgs& a, void* workspace, size_t workspace_bytes,
                            cudaStream_t stream) {
  if (a.width != 0 || a.context_width < 1 || a.n_keys < 1 || a.n_keys > 2) {
    return cudaErrorInvalidValue;
  }
  const size_t bytes = score_vllm_workspace_bytes(a.n_tokens, a.n_keys, a.dedup);
  cudaError_t err = check_scan_args(a, workspace, workspace_bytes, bytes, 8);
  if (err != cudaSuccess || a.n_docs == 0) return err;
  static const TermScanKernels<VllmScoreArgs> kernels{insert_kernel, term_kernel<true>,
                                                      term_kernel<false>, sum_kernel};
  return launch_term_scan(a, kernels, static_cast<double*>(workspace), a.n_tokens * a.n_keys,
                          stream);
}

}  // namespace tokenmark::cuda
