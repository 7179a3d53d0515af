// score_sglang on CUDA: SGLang's detector over ragged documents, in the shape of the term scans
// (doc_scan.cuh): every candidate position into a hash table keeping the lowest position per
// context; per position whose context is new its terms -log1p(-u) of each key and (dual key) its
// coin; per document, in token order, the first max_contexts of them counted and summed.
#include <cstdint>
#include <limits>

#include "doc_scan.cuh"
#include "sglang_cuda.h"
#include "tokenmark/sglang.h"

namespace tokenmark::cuda {
namespace {

// The first position that SGLang scores: the prompt's end, or without a prompt context_width
// tokens in (their contexts are unknown).
__device__ __forceinline__ int64_t first_scored(const SglangScoreArgs& a, const DocCursor& doc) {
  if (doc.begin > doc.lo) return doc.begin;
  return doc.lo + (doc.hi - doc.lo < a.context_width ? doc.hi - doc.lo : a.context_width);
}

// The first token of position p's context: up to context_width tokens back, not before the
// document.
__device__ __forceinline__ int64_t context_lo(const SglangScoreArgs& a, const DocCursor& doc,
                                              int64_t p) {
  return p - a.context_width > doc.lo ? p - a.context_width : doc.lo;
}

__device__ __forceinline__ uint32_t context_hash(const SglangScoreArgs& a, const DocCursor& doc,
                                                 int64_t p) {
  const int64_t lo = context_lo(a, doc, p);
  return sglang_context_hash(static_cast<int>(p - lo),
                             [&](int i) { return static_cast<uint32_t>(a.tokens[lo + i]); });
}

// Whether stored position q is a candidate of this document with p's context (length, words).
__device__ __forceinline__ bool same_context(const SglangScoreArgs& a, const DocCursor& doc,
                                             uint32_t q, int64_t p) {
  if (q < first_scored(a, doc) || q >= doc.hi) return false;
  const int64_t qlo = context_lo(a, doc, q), plo = context_lo(a, doc, p);
  if (q - qlo != p - plo) return false;
  for (int64_t i = 0; i < p - plo; ++i) {
    if (a.tokens[qlo + i] != a.tokens[plo + i]) return false;
  }
  return true;
}

template <typename F>
__device__ __forceinline__ void each_candidate(const SglangScoreArgs& a, int64_t warp_span, F f) {
  each_position(a, warp_span, [&](int64_t i, const DocCursor& doc) {
    if (i >= first_scored(a, doc)) f(i, doc);
  });
}

// Pass 1: every candidate position into the table, the lowest position kept per context.
__global__ void __launch_bounds__(kThreads)
    insert_kernel(SglangScoreArgs a, uint32_t* table, uint32_t cap, int64_t warp_span) {
  each_candidate(a, warp_span, [&](int64_t i, const DocCursor& doc) {
    probe_insert(table, cap, home_slot(doc.d, context_hash(a, doc, i), 0, cap),
                 static_cast<uint32_t>(i), true,
                 [&](uint32_t q) { return same_context(a, doc, q, i); });
  });
}

// Pass 2: where position i's context is new, term[k][i] = -log1p(-u) of key k and coin[i] = 1
// where the coin chose key A; term[0][i] NaN elsewhere.
__global__ void __launch_bounds__(kThreads)
    term_kernel(SglangScoreArgs a, const uint32_t* table, uint32_t cap, int64_t warp_span,
                double* term) {
  uint8_t* coin = reinterpret_cast<uint8_t*>(term + a.n_keys * a.n_tokens);
  each_position(a, warp_span, [&](int64_t i, const DocCursor& doc) {
    term[i] = std::numeric_limits<double>::quiet_NaN();
    if (i < first_scored(a, doc)) return;
    const uint32_t h = context_hash(a, doc, i);
    if (!probe_holds(table, cap, home_slot(doc.d, h, 0, cap), static_cast<uint32_t>(i),
                     [&](uint32_t q) { return same_context(a, doc, q, i); })) {
      return;  // not the first of its context
    }
    const uint32_t tok = static_cast<uint32_t>(a.tokens[i]);
    for (int k = 0; k < a.n_keys; ++k) {
      const uint32_t hash = sglang_token_hash(a.keys[k], h, tok);
      term[k * a.n_tokens + i] = -log1p(-((static_cast<double>(hash) + 0.5) / 4294967296.0));
    }
    if (a.n_keys == 2) coin[i] = sglang_coin(a.keys[0], a.keys[1], h) < a.threshold;
  });
}

// Pass 3, one thread per document: the first max_contexts new contexts in token order counted
// (flags) and summed as the CPU's scalar path adds them.
__global__ void sum_kernel(SglangScoreArgs a, const double* term) {
  const uint8_t* coin = reinterpret_cast<const uint8_t*>(term + a.n_keys * a.n_tokens);
  for (int64_t d = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; d < a.n_docs;
       d += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double s[5] = {0, 0, 0, 0, 0};
    int64_t n = 0, n_a = 0;
    for (int64_t i = a.offsets[d]; i < a.offsets[d + 1]; ++i) {     // NaN before the first scored
      const bool fresh = n < a.max_contexts && term[i] == term[i];  // not NaN: a new context
      if (a.counted) a.counted[i] = fresh;
      if (!fresh) continue;
      ++n;
      const double sa = term[i];
      s[1] += sa;
      if (a.n_keys == 1) {
        s[0] += sa;
        continue;
      }
      const double sb = term[a.n_tokens + i];
      s[2] += sb;
      if (coin[i]) {
        ++n_a;
        s[0] += sa;
        s[3] += sa;
      } else {
        s[0] += sb;
        s[4] += sb;
      }
    }
    a.n_scored[d] = n;
    a.n_key_a[d] = n_a;
    for (int k = 0; k < 5; ++k) a.sums[d * 5 + k] = s[k];
  }
}

}  // namespace

size_t score_sglang_workspace_bytes(int64_t n_tokens, int n_keys) {
  if (n_tokens <= 0 || n_keys < 1 || n_keys > 2) return 0;
  const size_t terms = static_cast<size_t>(n_tokens) * n_keys * sizeof(double);
  const size_t coins = (static_cast<size_t>(n_tokens) + 7) / 8 * 8;  // keeps the table aligned
  return terms + coins + dedup_table_bytes(n_tokens, true);
}

cudaError_t score_sglang_cuda(const SglangScoreArgs& a, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream) {
  if (a.width != 0 || a.context_width < 1 || a.context_width > 64 || a.max_contexts < 1 ||
      a.n_keys < 1 || a.n_keys > 2 || !a.dedup) {
    return cudaErrorInvalidValue;
  }
  const size_t bytes = score_sglang_workspace_bytes(a.n_tokens, a.n_keys);
  cudaError_t err = check_scan_args(a, workspace, workspace_bytes, bytes, 8);
  if (err != cudaSuccess || a.n_docs == 0) return err;
  static const TermScanKernels<SglangScoreArgs> kernels{insert_kernel, term_kernel, term_kernel,
                                                        sum_kernel};
  // The table follows the terms and the coin bytes (launch_term_scan: after term_values doubles).
  const int64_t coin_doubles = (a.n_tokens + 7) / 8;
  return launch_term_scan(a, kernels, static_cast<double*>(workspace),
                          a.n_tokens * a.n_keys + coin_doubles, stream);
}

}  // namespace tokenmark::cuda
