// SynthID sampler (csrc/cuda/synthid_sample.cu) under the host emulation: C entry points on
// host pointers for tests/cuda_emu/test_cuda_emu_synthid.py.
#include <cstdlib>
#include <vector>

#include "emu_rows.h"
#include "synthid_sample.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

namespace tokenmark::cuda {
namespace {

__global__ void phase_factors_kernel(const uint64_t* hist, int bits, double* out) {
  __shared__ double staging[2 * kFactorStaging];
  if (threadIdx.x < 32) phase_factors_warp(hist, bits, staging, out);
}

// One block adds values[i] into bin bins[i] of a BlockHist (thread t takes i = t, t + 256, ...),
// as a pass does, and block_sum adds them all up: the bins' 64-bit sums and the total.
__global__ void block_hist_kernel(const uint32_t* bins, const uint64_t* values, int64_t n,
                                  uint64_t* sums, uint64_t* total) {
  __shared__ uint32_t words[2 * kSynthIdBins];
  __shared__ uint64_t warps[kThreadsPerBlock / 32];
  const BlockHist hist{words, words + kSynthIdBins};
  for (int q = threadIdx.x; q < 2 * kSynthIdBins; q += kThreadsPerBlock) words[q] = 0;
  __syncthreads();
  uint64_t mine = 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreadsPerBlock) {
    hist.add(bins[i], values[i]);
    mine += values[i];
  }
  mine = block_sum(mine, warps);
  if (threadIdx.x == 0) *total = mine;
  for (int q = threadIdx.x; q < kSynthIdBins; q += kThreadsPerBlock) sums[q] = hist.sum(q);
}

// `bytes` of 16-byte aligned scratch in `ws`, poisoned: a launcher must clear what it relies on.
void* poisoned_scratch(size_t bytes, std::vector<unsigned char>& ws) {
  ws.assign(bytes + 16, 0xA5);
  return ws.data() + (16 - reinterpret_cast<uintptr_t>(ws.data()) % 16) % 16;
}

}  // namespace
}  // namespace tokenmark::cuda

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

// The one-warp tail alone, launched as the pass kernel launches it (256 threads, warp 0 works).
int emu_phase_factors(const uint64_t* hist, int bits, double* out) {
  using namespace tokenmark::cuda;
  phase_factors_kernel<<<1, kThreadsPerBlock>>>(hist, bits, out);
  return cudaGetLastError();
}

int emu_sample_synthid(const void* logits, int64_t batch, int64_t n, int64_t row_stride, int dtype,
                       const int32_t* cand, const void* ids, int ids_is_int64, int64_t ids_len,
                       int64_t ids_stride, const uint32_t* keys, int64_t key_stride,
                       const double* uniforms, const uint8_t* enabled, int width, int seeding,
                       int layers, int64_t history, int64_t top_k, int64_t* out, uint8_t* marked,
                       int chunk, uint64_t* stage_times) {
  using namespace tokenmark;
  SynthIdSampleArgs a{};
  static_cast<RowArgs<const void>&>(a) =
      ::tm_emu::row_args(logits, batch, n, row_stride, dtype, ids, ids_is_int64, ids_len,
                         ids_stride, keys, key_stride, enabled, width, seeding);
  a.uniforms = uniforms;
  a.layers = layers;
  a.top_k = top_k;
  a.history = history;
  a.out = out;
  a.marked = marked;
  a.chunk = chunk;
  a.stage_times = stage_times;
  const size_t bytes = cuda::sample_synthid_workspace_bytes(batch, n > 0 ? n : 1, layers, top_k);
  std::vector<unsigned char> ws;
  return cuda::sample_synthid_cuda(a, cand, cuda::poisoned_scratch(bytes, ws), bytes, nullptr);
}

// synthid_base_weights4 (tokenmark/synthid.h, the passes' weights) on n (a multiple of 4)
// logits against the row's largest, m.
void emu_base_weights4(const float* x, int64_t n, double m, double* w) {
  for (int64_t i = 0; i < n; i += 4) {
    const float (&xs)[4] = *reinterpret_cast<const float(*)[4]>(x + i);
    double (&ws)[4] = *reinterpret_cast<double(*)[4]>(w + i);
    tokenmark::synthid_base_weights4(xs, m, ws);
  }
}

// The profiling stamps' layout (sample_synthid_stage_shape): {launches, batch, max_chunks}.
void emu_stage_shape(int64_t batch, int64_t n, int layers, int64_t top_k, int64_t* shape) {
  const auto st = tokenmark::cuda::sample_synthid_stage_shape(batch, n, layers, top_k);
  shape[0] = st.launches;
  shape[1] = st.batch;
  shape[2] = st.max_chunks;
}

// A pass's block histogram and block sum alone (block_hist_kernel).
int emu_block_hist(const uint32_t* bins, const uint64_t* values, int64_t n, uint64_t* sums,
                   uint64_t* total) {
  using namespace tokenmark::cuda;
  block_hist_kernel<<<1, kThreadsPerBlock>>>(bins, values, n, sums, total);
  return cudaGetLastError();
}

// The top-k candidates alone (csrc/cuda/top_k.cuh).
int emu_top_k(const void* logits, int64_t batch, int64_t vocab, int64_t row_stride, int dtype,
              int64_t k, int32_t* cand, float* values) {
  using namespace tokenmark;
  const size_t bytes = cuda::top_k_workspace_bytes(batch, vocab, k);
  std::vector<unsigned char> ws;
  return cuda::top_k_candidates_cuda(logits, batch, vocab, row_stride,
                                     static_cast<LogitsDtype>(dtype), k, cand, values,
                                     cuda::poisoned_scratch(bytes, ws), bytes, nullptr);
}

}  // extern "C"
