// score_gumbel on CUDA: ragged documents tokens[offsets[d]:offsets[d+1]], the same layout and
// dedup table as score_kgw (doc_scan.cuh, kgw_score.cu).
//
// The score is a float64 sum in token order (docs/prf.md), so atomics (whose order is a race)
// cannot add it up. Instead the parallel passes write each position's term to a workspace array
// (NaN where the position is not counted), and a last pass sums every document's terms in token
// order, one thread per document: the same additions in the same order as the CPU. The terms
// use CUDA's double `log`, within 1 ulp of the correctly rounded value like glibc's, so a score
// can differ from the CPU's in its last bits; n_scored and counted are exact.
//
// Passes: (dedup) insert every scored position into the table keeping the lowest position per
// key; then the terms, a position counting when it holds its key's slot (the first occurrence,
// as on the CPU); then the per-document sums.
#include <cstdint>
#include <limits>

#include "doc_scan.cuh"
#include "gumbel_cuda.h"
#include "tokenmark/gumbel.h"

namespace tokenmark::cuda {
namespace {

// Pass 1 (dedup): every scored position into the table, the lowest position kept per key.
__global__ void __launch_bounds__(kThreads)
    insert_kernel(GumbelScoreArgs a, uint32_t* table, uint32_t cap, int64_t warp_span) {
  each_scored_position(a, warp_span, [&](int64_t i, const DocCursor& doc) {
    dedup_insert(a, table, cap, doc, pos_context(a, i), static_cast<uint32_t>(a.tokens[i]),
                 static_cast<uint32_t>(i), true);
  });
}

// Pass 2: term[i] = -log(1 - u) where position i counts, NaN elsewhere in the scored range;
// the per-position counted flags.
template <bool kDedup>
__global__ void __launch_bounds__(kThreads)
    term_kernel(GumbelScoreArgs a, const uint32_t* table, uint32_t cap, int64_t warp_span,
                double* term) {
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  const double not_counted = std::numeric_limits<double>::quiet_NaN();
  each_position_counted(a, warp_span, [&](int64_t i, const DocCursor& doc) -> uint8_t {
    const uint32_t tok = static_cast<uint32_t>(a.tokens[i]);
    const uint32_t ctx = pos_context(a, i);
    const bool counted =
        !kDedup || holds_slot(a, table, cap, doc, ctx, tok, static_cast<uint32_t>(i));
    // The salt is constant within a document, so dedup on the unsalted hash is the same.
    const uint32_t salted = ctx ^ a.salts[doc.d * a.salt_stride];
    term[i] = counted ? gumbel_score_term(prf_word(key, salted, tok, kDomainGumbel)) : not_counted;
    return counted;
  });
}

// Pass 3: per document, the counted terms summed in token order (as the CPU does).
__global__ void sum_kernel(GumbelScoreArgs a, const double* term) {
  for (int64_t d = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; d < a.n_docs;
       d += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t lo = a.offsets[d], hi = a.offsets[d + 1];
    int64_t skip = a.prefix ? a.prefix[d] : 0;
    if (skip < a.width) skip = a.width;
    int64_t n = 0;
    double total = 0.0;
    for (int64_t i = lo + (hi - lo < skip ? hi - lo : skip); i < hi; ++i) {
      const double t = term[i];
      if (t == t) {  // not NaN: counted
        total += t;
        ++n;
      }
    }
    a.n_scored[d] = n;
    a.score[d] = total;
  }
}

}  // namespace

size_t score_gumbel_workspace_bytes(int64_t n_tokens, bool dedup) {
  if (n_tokens <= 0) return 0;
  return static_cast<size_t>(n_tokens) * sizeof(double) +
         (dedup ? static_cast<size_t>(2 * n_tokens) * sizeof(uint32_t) : 0);
}

cudaError_t score_gumbel_cuda(const GumbelScoreArgs& a, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream) {
  const size_t bytes = score_gumbel_workspace_bytes(a.n_tokens, a.dedup);
  cudaError_t err = check_scan_args(a, workspace, workspace_bytes, bytes, 8);
  if (err != cudaSuccess || a.n_docs == 0) return err;
  static const TermScanKernels<GumbelScoreArgs> kernels{insert_kernel, term_kernel<true>,
                                                        term_kernel<false>, sum_kernel};
  return launch_term_scan(a, kernels, static_cast<double*>(workspace), a.n_tokens, stream);
}

}  // namespace tokenmark::cuda
