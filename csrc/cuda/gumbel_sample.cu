// sample_gumbel on CUDA: one block per row, or, for long rows, `splits` blocks per row (as the
// Triton kernel does: a decode batch of a few rows then fills the device). A block first decides
// whether its row is watermarked (its threads search the row's earlier context hashes in
// parallel for a repeat), then each thread scans every blockDim-th group of 4 token ids (one
// Philox block) of the block's range, keeping the best (score, id), and a shared-memory tree
// reduction picks the range's argmax. Split rows write one (score, id) per block to the
// workspace, and a second launch (one warp per row, shuffles) picks the row's winner: the order
// (score descending, then id ascending) is total, so the winner does not depend on the order of
// the reductions.
//
// The score is float64(logit) + gumbel_noise(word) with gumbel.h's host+device lines. CUDA's
// double `log` is within 1 ulp of the correctly rounded result, as is glibc's, so the noise can
// differ from the CPU's in the last bit; the argmax changes only when two scores lie within a few
// ulp (probability about 1e-15 per step, docs/prf.md). Ties go to the lowest id; -inf and NaN
// logits never win (the comparison `x > -inf` is false for both).
//
// Exact pruning, as on the CPU: a thread skips the PRF for a group whose largest logit plus
// kNoiseBound is below its best score so far (kNoiseBound exceeds every noise value; the largest
// is -log(-log(1 - 2^-33)) = 22.87..), and skips the two logs of a token whose logit plus the
// noise bound of its word's top kBoundBits bits is below it. The block computes those bounds
// itself into shared memory (the noise of the largest word of each bucket, with this device's
// log, plus kBoundMargin, far above any last-bit wobble of log), so a skipped token cannot reach
// the best score and the pruned argmax is the full one. Small vocabularies skip the table.
#include <cstdint>

#include "gumbel_cuda.h"
#include "launch.h"
#include "sample_rows.cuh"
#include "tokenmark/gumbel.h"

namespace tokenmark::cuda {
namespace {

constexpr int kSampleThreads = 256;  // a power of two: the reduction halves it
constexpr double kNoiseBound = 23.0;
constexpr int kBoundBits = 12;
constexpr double kBoundMargin = 1e-9;
// Ranges from which the bound table (2^kBoundBits noise pairs) pays for itself.
constexpr int64_t kTableMinVocab = 8192;
// The shortest range a split block gets: 2 Philox blocks (8 ids) per thread.
constexpr int64_t kMinSplitChunk = 8 * kSampleThreads;
constexpr int64_t kMaxSplits = 65535;  // grid.y

// Where the blocks of a split row leave their winners ([batch, splits] each); unused otherwise.
struct Winners {
  double* score;
  int64_t* id;  // the winner, kNoFiniteLogit (none in range) or kNotWatermarked (the row)
  int64_t splits;
  int64_t chunk;  // token ids per block, a multiple of 4
};

// Row b's salted context hash, or false when the row is not watermarked. Block-uniform.
__device__ bool row_context(const GumbelSampleArgs& a, int64_t b, uint32_t* ctx, int* flag) {
  if ((a.enabled && !a.enabled[b]) || a.ids_len < a.width) return false;
  const int64_t off = b * a.ids_row_stride;
  if (a.ids_is_int64) {
    const int64_t* ids = static_cast<const int64_t*>(a.input_ids) + off;
    if (a.skip_repeated &&
        context_repeated_block(ids, a.width, a.ids_len, a.width, a.seeding, flag)) {
      return false;
    }
    *ctx = ids_context(ids, a.ids_len, a.width, a.seeding);
  } else {
    const int32_t* ids = static_cast<const int32_t*>(a.input_ids) + off;
    if (a.skip_repeated &&
        context_repeated_block(ids, a.width, a.ids_len, a.width, a.seeding, flag)) {
      return false;
    }
    *ctx = ids_context(ids, a.ids_len, a.width, a.seeding);
  }
  *ctx ^= a.salts[b * a.salt_stride];
  return true;
}

// Whether candidate (s, id) beats (best_s, best_id); id < 0 marks "nothing yet".
__device__ __forceinline__ bool beats(double s, int64_t id, double best_s, int64_t best_id) {
  return id >= 0 && (best_id < 0 || s > best_s || (s == best_s && id < best_id));
}

template <bool kSplit>
__global__ void __launch_bounds__(kSampleThreads) sample_kernel(GumbelSampleArgs a, Winners w) {
  __shared__ double red_s[kSampleThreads];
  __shared__ int64_t red_id[kSampleThreads];
  __shared__ int flag;
  __shared__ double bound[1 << kBoundBits];
  const int64_t b = blockIdx.x;
  const int64_t begin = kSplit ? static_cast<int64_t>(blockIdx.y) * w.chunk : 0;
  const int64_t end = kSplit && begin + w.chunk < a.vocab ? begin + w.chunk : a.vocab;
  const int64_t slot = b * w.splits + blockIdx.y;
  uint32_t ctx = 0;
  if (!row_context(a, b, &ctx, &flag)) {
    if (threadIdx.x == 0) (kSplit ? w.id[slot] : a.out[b]) = kNotWatermarked;
    return;
  }
  const bool use_table = end - begin >= kTableMinVocab;  // block-uniform
  if (use_table) {
    constexpr uint32_t kLowMask = (1u << (32 - kBoundBits)) - 1u;
    for (uint32_t i = threadIdx.x; i < (1u << kBoundBits); i += kSampleThreads) {
      bound[i] = gumbel_noise((i << (32 - kBoundBits)) | kLowMask) + kBoundMargin;
    }
    __syncthreads();
  }
  const Key128 key{{a.keys[b * a.key_stride], a.keys[b * a.key_stride + 1],
                    a.keys[b * a.key_stride + 2], a.keys[b * a.key_stride + 3]}};
  const void* row =
      static_cast<const char*>(a.logits) + b * a.logits_row_stride * (a.dtype == kFloat32 ? 4 : 2);
  const float neg_inf = -INFINITY;
  double best_s = 0.0;
  int64_t best_id = -1;
  for (int64_t c = begin + 4 * static_cast<int64_t>(threadIdx.x); c < end;
       c += 4 * kSampleThreads) {
    float x[4];
    float mx = neg_inf;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      x[q] = c + q < end ? load_logit(row, a.dtype, c + q) : neg_inf;
      mx = x[q] > mx ? x[q] : mx;  // NaN never enters
    }
    if (!(mx > neg_inf)) continue;
    if (best_id >= 0 && static_cast<double>(mx) + kNoiseBound < best_s) continue;
    const U32x4 w = prf_block(key, ctx, static_cast<uint32_t>(c >> 2), kDomainGumbel);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      if (!(x[q] > neg_inf)) continue;
      const double xd = static_cast<double>(x[q]);
      if (use_table && best_id >= 0 && xd + bound[w.v[q] >> (32 - kBoundBits)] < best_s) continue;
      const double s = xd + gumbel_noise(w.v[q]);
      if (best_id < 0 || s > best_s) {  // ids rise within a thread: strict > keeps the lowest
        best_s = s;
        best_id = c + q;
      }
    }
  }
  red_s[threadIdx.x] = best_s;
  red_id[threadIdx.x] = best_id;
  __syncthreads();
  for (int half = kSampleThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      const double s = red_s[threadIdx.x + half];
      const int64_t id = red_id[threadIdx.x + half];
      if (beats(s, id, red_s[threadIdx.x], red_id[threadIdx.x])) {
        red_s[threadIdx.x] = s;
        red_id[threadIdx.x] = id;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const int64_t id = red_id[0] >= 0 ? red_id[0] : kNoFiniteLogit;
    if (kSplit) {
      w.score[slot] = red_s[0];
      w.id[slot] = id;
    } else {
      a.out[b] = id;
    }
  }
}

// The winner of each split row from its blocks' winners: one warp per row.
__global__ void __launch_bounds__(32) pick_kernel(GumbelSampleArgs a, Winners w) {
  constexpr unsigned kAll = 0xFFFFFFFFu;
  const int64_t b = blockIdx.x;
  const double* score = w.score + b * w.splits;
  const int64_t* id = w.id + b * w.splits;
  if (id[0] == kNotWatermarked) {  // every block of the row says so; warp-uniform
    if (threadIdx.x == 0) a.out[b] = kNotWatermarked;
    return;
  }
  double best_s = 0.0;
  int64_t best_id = -1;
  for (int64_t k = threadIdx.x; k < w.splits; k += 32) {
    if (beats(score[k], id[k], best_s, best_id)) {
      best_s = score[k];
      best_id = id[k];
    }
  }
  for (int off = 16; off > 0; off /= 2) {
    const double s = __shfl_xor_sync(kAll, best_s, off);
    const int64_t i = __shfl_xor_sync(kAll, best_id, off);
    if (beats(s, i, best_s, best_id)) {
      best_s = s;
      best_id = i;
    }
  }
  if (threadIdx.x == 0) a.out[b] = best_id >= 0 ? best_id : kNoFiniteLogit;
}

int64_t max_splits(int64_t vocab) {
  const int64_t n = ceil_div(vocab, kMinSplitChunk);
  return n < kMaxSplits ? n : kMaxSplits;
}

}  // namespace

size_t sample_gumbel_workspace_bytes(int64_t batch, int64_t vocab) {
  if (batch <= 0 || vocab <= 0 || max_splits(vocab) < 2) return 0;  // never split
  return static_cast<size_t>(batch) * static_cast<size_t>(max_splits(vocab)) *
         (sizeof(double) + sizeof(int64_t));
}

cudaError_t sample_gumbel_cuda(const GumbelSampleArgs& a, int64_t splits, void* workspace,
                               size_t workspace_bytes, cudaStream_t stream) {
  if (a.batch < 0 || a.vocab < 0 || a.width < 0 || splits < 0) return cudaErrorInvalidValue;
  if (a.batch == 0) return cudaSuccess;
  if (a.batch > INT32_MAX) return cudaErrorInvalidValue;  // grid.x
  const int64_t most = a.vocab > 0 ? max_splits(a.vocab) : 1;
  if (splits == 0) {
    splits = 1;
    if (a.vocab >= kGumbelSplitMinVocab) {
      int cap = 0;
      const cudaError_t err = device_grid_cap(&cap);
      if (err != cudaSuccess) return err;
      splits = ceil_div(cap, a.batch);  // about one wave of blocks
    }
  }
  splits = splits < most ? splits : most;
  Winners w{nullptr, nullptr, 1, a.vocab};
  if (splits > 1) {
    // Equal ranges, a multiple of 4 ids each, and no empty block.
    w.chunk = ceil_div(ceil_div(a.vocab, splits), 4) * 4;
    w.splits = ceil_div(a.vocab, w.chunk);
  }
  if (w.splits == 1) {
    sample_kernel<false><<<static_cast<unsigned>(a.batch), kSampleThreads, 0, stream>>>(a, w);
    return cudaGetLastError();
  }
  const size_t need = static_cast<size_t>(a.batch) * w.splits * (sizeof(double) + sizeof(int64_t));
  if (workspace == nullptr || workspace_bytes < need) return cudaErrorInvalidValue;
  w.score = static_cast<double*>(workspace);
  w.id = reinterpret_cast<int64_t*>(w.score + a.batch * w.splits);
  const dim3 grid(static_cast<unsigned>(a.batch), static_cast<unsigned>(w.splits));
  sample_kernel<true><<<grid, kSampleThreads, 0, stream>>>(a, w);
  pick_kernel<<<static_cast<unsigned>(a.batch), 32, 0, stream>>>(a, w);
  return cudaGetLastError();
}

}  // namespace tokenmark::cuda
