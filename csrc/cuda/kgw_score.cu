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

#include "doc_scan.cuh"
#include "kgw_cuda.h"
#include "tokenmark/kgw.h"

namespace tokenmark::cuda {
namespace {

__device__ __forceinline__ bool green_token(const Key128& key, uint32_t ctx, uint32_t tok,
                                            uint32_t threshold) {
  return kgw_is_green(prf_word(key, ctx, tok, kDomainKgwGreen), threshold);
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
      counted = holds_slot(a, table, cap, doc, ctx, tok, pos) ? 1 : 0;
    }
    a.counted[i] = counted;
  }
}

}  // namespace

size_t score_kgw_workspace_bytes(int64_t n_tokens, bool dedup) {
  return dedup_table_bytes(n_tokens, dedup);
}

cudaError_t score_kgw_cuda(const KgwScoreArgs& a, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream) {
  const CountScanKernels<KgwScoreArgs> kernels{init_counts_kernel, score_kernel<false>,
                                               score_kernel<true>, mark_counted_kernel};
  return launch_count_scan(a, kernels, workspace, workspace_bytes, stream);
}

}  // namespace tokenmark::cuda
