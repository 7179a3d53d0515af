// score_synthid_text on CUDA: one block per document (see synthid_text_cuda.h).
//
// Their context hash of position j >= m = ngram_len - 1 runs accumulate(h, x) = (h + x) * C + 1
// (uint64 wrapping) from h = 1 over the m tokens before j; position j is kept when it is at or
// after the prompt's end and before the document's first EOS, and (with the repetition mask) its
// context hash occurred none of the `history` contexts before it, and is not 0 within the first
// `history` contexts (their zero-filled history). A kept position adds, per layer l,
// table[(ht * C + key_terms[l]) mod size] with ht = accumulate(h, token): the CPU's order of
// operations, so the same integers.
#include <cstdint>

#include "launch.h"
#include "synthid_text_cuda.h"

namespace tokenmark::cuda {
namespace {

constexpr uint64_t kLcgMul = 6364136223846793005ull;  // their accumulate_hash LCG
constexpr unsigned kNoEos = 0xFFFFFFFFu;
constexpr unsigned kAllLanes = 0xFFFFFFFFu;

__device__ __forceinline__ uint64_t accumulate(uint64_t h, uint64_t x) {
  return (h + x) * kLcgMul + 1u;
}

// Their table index of a hash: a mask for power-of-two tables, else torch's floor modulo of the
// hash as int64.
__device__ __forceinline__ int64_t table_index(uint64_t h, int64_t size) {
  if ((size & (size - 1)) == 0) return static_cast<int64_t>(h & static_cast<uint64_t>(size - 1));
  const int64_t idx = static_cast<int64_t>(h) % size;
  return idx < 0 ? idx + size : idx;
}

__global__ void __launch_bounds__(kThreads) doc_kernel(SynthidTextScoreArgs a, uint64_t* hashes) {
  __shared__ unsigned ones[kSynthidTextMaxDepth];
  __shared__ unsigned kept_count;
  __shared__ unsigned first_eos;
  const int m = a.ngram_len - 1;
  const int lane = threadIdx.x & 31;
  for (int64_t d = blockIdx.x; d < a.n_docs; d += gridDim.x) {
    const int64_t lo = a.offsets[d], len = a.offsets[d + 1] - lo;
    const int32_t* doc = a.tokens + lo;
    for (int l = threadIdx.x; l < a.depth; l += kThreads) ones[l] = 0;
    if (threadIdx.x == 0) {
      kept_count = 0;
      first_eos = kNoEos;
    }
    __syncthreads();
    // Context c (position m + c) hashes into hashes[lo + c]; the first EOS of the document.
    const int64_t contexts = len > m ? len - m : 0;
    for (int64_t c = threadIdx.x; c < contexts; c += kThreads) {
      uint64_t h = 1;
      for (int q = 0; q < m; ++q) h = accumulate(h, static_cast<uint64_t>(doc[c + q]));
      hashes[lo + c] = h;
    }
    if (a.eos >= 0) {
      for (int64_t j = threadIdx.x; j < len; j += kThreads) {
        if (doc[j] == a.eos) atomicMin(&first_eos, static_cast<unsigned>(j));
      }
    }
    __syncthreads();
    const int64_t end = first_eos == kNoEos ? len : static_cast<int64_t>(first_eos);
    const int64_t skip = a.prefix && a.prefix[d] > m ? a.prefix[d] : m;
    // Every thread takes the same number of steps (j past the end keeps nothing), so that the
    // warps count each layer's ones by ballot: one shared atomic per warp and layer.
    for (int64_t base = 0; base < len; base += kThreads) {
      const int64_t j = base + threadIdx.x;
      bool keep = j < len && j >= skip && j < end;
      if (j < len && j >= m && a.mask_repeated) {  // every context, scored or not, as theirs
        const int64_t c = j - m;
        const uint64_t h = hashes[lo + c];
        const int64_t from = c - a.history > 0 ? c - a.history : 0;
        if (h == 0 && c < a.history) keep = false;
        for (int64_t e = c - 1; keep && e >= from; --e) keep = hashes[lo + e] != h;
      }
      if (j < len && a.counted) a.counted[lo + j] = keep;
      const uint64_t htc =
          keep ? accumulate(hashes[lo + j - m], static_cast<uint64_t>(doc[j])) * kLcgMul : 0;
      const unsigned kept = __ballot_sync(kAllLanes, keep);
      if (kept == 0) continue;  // warp-uniform
      if (lane == 0) atomicAdd(&kept_count, static_cast<unsigned>(__popc(kept)));
      for (int l = 0; l < a.depth; ++l) {
        const bool one = keep && a.table[table_index(htc + a.key_terms[l], a.table_size)];
        const unsigned n = __popc(__ballot_sync(kAllLanes, one));
        if (lane == 0 && n) atomicAdd(&ones[l], n);
      }
    }
    __syncthreads();
    for (int l = threadIdx.x; l < a.depth; l += kThreads) a.ones[d * a.depth + l] = ones[l];
    if (threadIdx.x == 0) a.n_scored[d] = kept_count;
    __syncthreads();  // the shared counters are reset for the next document
  }
}

}  // namespace

size_t score_synthid_text_workspace_bytes(int64_t n_tokens) {
  return n_tokens > 0 ? static_cast<size_t>(n_tokens) * sizeof(uint64_t) : 0;
}

cudaError_t score_synthid_text_cuda(const SynthidTextScoreArgs& a, void* workspace,
                                    size_t workspace_bytes, cudaStream_t stream) {
  if (a.n_tokens < 0 || a.n_docs < 0 || a.ngram_len < 1 || a.ngram_len > 1024 || a.depth < 1 ||
      a.depth > kSynthidTextMaxDepth || a.table_size < 1 || a.history < 0 ||
      a.n_tokens > INT32_MAX) {
    return cudaErrorInvalidValue;
  }
  const size_t bytes = score_synthid_text_workspace_bytes(a.n_tokens);
  if (workspace_bytes < bytes) return cudaErrorInvalidValue;
  if (bytes > 0 && (workspace == nullptr || reinterpret_cast<uintptr_t>(workspace) % 8)) {
    return cudaErrorInvalidValue;
  }
  if (a.n_docs == 0) return cudaSuccess;
  int grid_cap = 0;
  const cudaError_t err = device_grid_cap(&grid_cap);
  if (err != cudaSuccess) return err;
  const int grid = static_cast<int>(a.n_docs < grid_cap ? a.n_docs : grid_cap);
  doc_kernel<<<grid, kThreads, 0, stream>>>(a, static_cast<uint64_t*>(workspace));
  return cudaGetLastError();
}

}  // namespace tokenmark::cuda
