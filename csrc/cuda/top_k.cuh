// The top-k candidates of each row on CUDA, as the spec picks them (docs/prf.md, "Sampling";
// reference.synthid.candidates): the k largest logits, NaN counting as -inf, equal logits (-0 and
// +0 included) taken lowest id first; written ascending by id with their logits. No host sync, no
// allocation. A long row is split (top_k_slices): one block per slice picks the slice's k into
// the caller's workspace, then one block per row picks the row's k among those slices * k, in
// slice order, so "lowest position first" is still "lowest id first". Each block:
//
//   radix select  up to three sweeps of the row (12, 10, 10 bits of an order-preserving key): a
//                 shared-memory histogram of the next digit among the logits that match the
//                 digits chosen so far, then the digit holding the k-th largest. A sweep stops
//                 the search early when every logit of the chosen digit is needed.
//   collect       each thread owns a run of consecutive ids: it counts the logits above the
//                 threshold and those equal to it in its run, a block scan places the runs, and
//                 the run is walked again, writing the chosen ids (all above, and the ties of
//                 lowest id that make up k) in id order.
//
// Included by synthid_sample.cu (one translation unit: the kernels have internal linkage).
#pragma once

#include <cstdint>

#include "sample_rows.cuh"
#include "tokenmark/types.h"

namespace tokenmark::cuda {
namespace {

constexpr int kTopKThreads = 512;
constexpr int kTopKWarps = kTopKThreads / 32;
constexpr int kTopKFirstBits = 12;  // then 10 and 10: 32 bits in three sweeps
constexpr int kTopKMaxBins = 1 << kTopKFirstBits;
constexpr int kTopKLoads = 16;  // loads per thread issued together in a sweep

// Rank key of a logit: larger logits give larger keys, NaN ranks as -inf and -0 as +0 (the spec
// compares values, so the two zeros tie).
__device__ __forceinline__ unsigned top_k_key(float x) {
  if (isnan(x)) x = -INFINITY;
  if (x == 0.0f) x = 0.0f;
  const unsigned u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Exclusive prefix sums over the block (kTopKThreads threads, in thread order) of a 64-bit
// value; every thread must call it. `warp_sums` holds kTopKWarps entries of shared memory.
__device__ uint64_t top_k_block_exclusive(uint64_t v, uint64_t* warp_sums) {
  constexpr unsigned kAll = 0xFFFFFFFFu;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  uint64_t incl = v;
#pragma unroll
  for (int off = 1; off < 32; off *= 2) {
    const uint64_t t = __shfl_up_sync(kAll, incl, off);
    if (lane >= off) incl += t;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    uint64_t s = lane < kTopKWarps ? warp_sums[lane] : 0;
#pragma unroll
    for (int off = 1; off < 32; off *= 2) {
      const uint64_t t = __shfl_up_sync(kAll, s, off);
      if (lane >= off) s += t;
    }
    if (lane < kTopKWarps) warp_sums[lane] = s;  // inclusive over warps
  }
  __syncthreads();
  const uint64_t before = warp > 0 ? warp_sums[warp - 1] : 0;
  __syncthreads();  // warp_sums is read before the next call overwrites it
  return before + incl - v;
}

// Rows of ids split at most this many ways, into slices of at least kTopKSliceMin ids and 4 k.
constexpr int64_t kTopKMaxSlices = 64;
constexpr int64_t kTopKSliceMin = 4096;

// What the blocks of one top_k_kernel launch read and write. Block x takes slice x % slices of
// row x / slices: ids [s * slice_len, s * slice_len + len), len = slice_len except in the last
// slice, which runs to `vocab`; its k picks go to cand/values[x * k ..]. The id of the logit at
// row position i is i, or id_map[b * vocab + i] where given (the second step's rows are the
// first step's picks).
struct TopKRows {
  const void* logits;
  int64_t row_stride;
  LogitsDtype dtype;
  int64_t vocab;
  int64_t slices;
  int64_t slice_len;
  int64_t k;
  const int32_t* id_map;
  int32_t* cand;
  float* values;
};

// Blocks per row: 1 (no split) unless the row holds two slices of kTopKSliceMin and 4 k ids.
__host__ __device__ inline int64_t top_k_slices(int64_t vocab, int64_t k) {
  const int64_t min_len = kTopKSliceMin > 4 * k ? kTopKSliceMin : 4 * k;
  const int64_t s = vocab / min_len;
  return s < 2 ? 1 : (s < kTopKMaxSlices ? s : kTopKMaxSlices);
}

// The k candidate ids (ascending) of block blockIdx.x's slice into r.cand[blockIdx.x * k ..] and
// their logits, as float, into r.values[..]; 0 < k < every slice's length.
__global__ void __launch_bounds__(kTopKThreads) top_k_kernel(TopKRows r) {
  __shared__ unsigned hist[kTopKMaxBins];
  __shared__ uint64_t warp_sums[kTopKWarps];
  __shared__ unsigned sel_digit;
  __shared__ int64_t sel_need, sel_count;
  const int64_t b = blockIdx.x / r.slices, offset = (blockIdx.x % r.slices) * r.slice_len;
  const bool last_slice = blockIdx.x % r.slices == r.slices - 1;
  const int64_t vocab = last_slice ? r.vocab - offset : r.slice_len;  // this block's ids
  const LogitsDtype dtype = r.dtype;
  const int64_t k = r.k;
  const void* row = static_cast<const char*>(r.logits) +
                    (b * r.row_stride + offset) * (dtype == kFloat32 ? 4 : 2);
  // The search: the logits whose key matches `prefix` on the bits of `mask` are the candidates
  // still undecided; `need` of them (counted from the largest) are taken.
  unsigned prefix = 0, mask = 0;
  int64_t need = k;
  for (int shift = 32 - kTopKFirstBits, bits = kTopKFirstBits; bits > 0;) {
    const int bins = 1 << bits;
    for (int q = threadIdx.x; q < bins; q += kTopKThreads) hist[q] = 0;
    __syncthreads();
    // kTopKLoads loads in flight per thread before the histogram atomics: one block reads a
    // whole row, so its memory parallelism is what bounds a small batch. A thread counts runs
    // of hits in one bin in a register and adds each run with one atomic: rows masked to -inf,
    // ties and the later sweeps (where the few hits share a bin) would otherwise serialise on
    // one shared address.
    unsigned run_bin = 0, run = 0;
    for (int64_t base = threadIdx.x; base < vocab; base += kTopKThreads * kTopKLoads) {
      unsigned keys[kTopKLoads];
#pragma unroll
      for (int u = 0; u < kTopKLoads; ++u) {
        const int64_t i = base + u * kTopKThreads;
        keys[u] = i < vocab ? top_k_key(load_logit(row, dtype, i)) : 0;
      }
#pragma unroll
      for (int u = 0; u < kTopKLoads; ++u) {
        const bool in_row = base + u * kTopKThreads < vocab;
        if (in_row && (keys[u] & mask) == prefix) {
          const unsigned bin = (keys[u] >> shift) & (bins - 1);
          if (run > 0 && bin != run_bin) {
            atomicAdd(&hist[run_bin], run);
            run = 0;
          }
          run_bin = bin;
          ++run;
        }
      }
    }
    if (run > 0) atomicAdd(&hist[run_bin], run);
    __syncthreads();
    // Thread t owns the bins [bins - (t + 1) * per, bins - t * per): the largest digits first.
    const int per = bins / kTopKThreads > 0 ? bins / kTopKThreads : 1;
    const int hi = bins - static_cast<int>(threadIdx.x) * per, lo = hi - per;
    uint64_t mine = 0;
    for (int q = lo; q < hi; ++q) mine += q >= 0 ? hist[q] : 0;
    uint64_t before = top_k_block_exclusive(mine, warp_sums);
    if (lo >= 0 && before < static_cast<uint64_t>(need) &&
        static_cast<uint64_t>(need) <= before + mine) {  // exactly one thread
      for (int q = hi - 1; q >= lo; --q) {
        if (before + hist[q] >= static_cast<uint64_t>(need)) {
          sel_digit = static_cast<unsigned>(q);
          sel_need = need - static_cast<int64_t>(before);
          sel_count = hist[q];
          break;
        }
        before += hist[q];
      }
    }
    __syncthreads();
    prefix |= sel_digit << shift;
    mask |= static_cast<unsigned>(bins - 1) << shift;
    need = sel_need;
    const bool all_needed = sel_count == need;
    __syncthreads();        // the selection is read before the next sweep rewrites it
    if (all_needed) break;  // block-uniform
    bits = shift < 10 ? shift : 10;
    shift -= bits;
  }
  // Collect: thread t owns the run [t * len, (t + 1) * len) of ids.
  const int64_t len = (vocab + kTopKThreads - 1) / kTopKThreads;
  const int64_t begin = threadIdx.x * len < vocab ? threadIdx.x * len : vocab;
  const int64_t end = begin + len < vocab ? begin + len : vocab;
  uint32_t above = 0, tied = 0;
#pragma unroll 8
  for (int64_t i = begin; i < end; ++i) {
    const unsigned key = top_k_key(load_logit(row, dtype, i)) & mask;
    above += key > prefix;
    tied += key == prefix;
  }
  // Both counts in one scan: each total is < 2^32, so the low half never carries into the high.
  const uint64_t first = top_k_block_exclusive((uint64_t{above} << 32) | tied, warp_sums);
  int64_t ties_before = static_cast<int64_t>(first & 0xFFFFFFFFu);
  int64_t slot = static_cast<int64_t>(first >> 32) + (ties_before < need ? ties_before : need);
  int32_t* out_ids = r.cand + int64_t{blockIdx.x} * k;
  float* out_values = r.values + int64_t{blockIdx.x} * k;
  const int32_t* id_map = r.id_map ? r.id_map + b * r.vocab + offset : nullptr;
  for (int64_t i = begin; i < end && slot < k; ++i) {
    const float x = load_logit(row, dtype, i);
    const unsigned key = top_k_key(x) & mask;
    bool take = key > prefix;
    if (key == prefix) take = ties_before++ < need;
    if (take) {
      out_ids[slot] = id_map ? id_map[i] : static_cast<int32_t>(offset + i);
      out_values[slot] = x;
      ++slot;
    }
  }
}

// Workspace bytes launch_top_k needs (0 when rows are not split).
size_t top_k_split_bytes(int64_t batch, int64_t vocab, int64_t k) {
  if (batch <= 0 || k <= 0 || k >= vocab) return 0;
  const int64_t slices = top_k_slices(vocab, k);
  if (slices == 1) return 0;
  const int64_t picks = slices * k;  // <= vocab / 4: slices of at least 4 k ids
  constexpr int64_t kBytes = sizeof(int32_t) + sizeof(float);
  if (picks > INT64_MAX / kBytes / batch) return SIZE_MAX;  // no such device memory: refused
  return static_cast<size_t>(batch * picks * kBytes);
}

// Launches top_k_kernel for `batch` rows of `vocab` logits (0 < k < vocab; device pointers;
// cand and values hold batch * k entries each; `workspace` holds top_k_split_bytes).
cudaError_t launch_top_k(const void* logits, int64_t batch, int64_t vocab, int64_t row_stride,
                         LogitsDtype dtype, int64_t k, int32_t* cand, float* values,
                         void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (batch < 0 || k <= 0 || k >= vocab || vocab > INT32_MAX || batch > INT32_MAX) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  const int64_t slices = top_k_slices(vocab, k);
  if (slices == 1) {
    top_k_kernel<<<static_cast<unsigned>(batch), kTopKThreads, 0, stream>>>(
        TopKRows{logits, row_stride, dtype, vocab, 1, vocab, k, nullptr, cand, values});
    return cudaGetLastError();
  }
  if (batch * slices > INT32_MAX || !workspace ||
      workspace_bytes < top_k_split_bytes(batch, vocab, k)) {
    return cudaErrorInvalidValue;
  }
  const int64_t picks = slices * k;  // per row, after the first step
  int32_t* slice_ids = static_cast<int32_t*>(workspace);
  float* slice_values = reinterpret_cast<float*>(slice_ids + batch * picks);
  top_k_kernel<<<static_cast<unsigned>(batch * slices), kTopKThreads, 0, stream>>>(
      TopKRows{logits, row_stride, dtype, vocab, slices, vocab / slices, k, nullptr, slice_ids,
               slice_values});
  top_k_kernel<<<static_cast<unsigned>(batch), kTopKThreads, 0, stream>>>(
      TopKRows{slice_values, picks, kFloat32, picks, 1, picks, k, slice_ids, cand, values});
  return cudaGetLastError();
}

}  // namespace
}  // namespace tokenmark::cuda
