// apply_kgw_bias_ on CUDA: one pass over [batch, vocab] logits. Each row is cut into a few
// column tiles (enough tiles to fill the device); a block takes tiles in a grid-stride loop,
// thread 0 computes the row's context hash and parameters once per tile, and each thread then
// rewrites 16-byte groups of logits: one PRF call serves 4 token ids, so a group costs 1 call in
// float32 and 2 in float16/bfloat16.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "kgw_cuda.h"
#include "launch.h"
#include "tokenmark/kgw.h"

namespace tokenmark::cuda {
namespace {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// x + delta in float32, rounded to nearest-even into T. NaN keeps its exact bits (no payload
// canonicalisation); -inf + finite delta stays -inf. Returns whether x changed.
template <typename T>
__device__ __forceinline__ bool add_delta(T& x, float delta) {
  const float f = to_float(x);
  if (isnan(f)) return false;
  x = from_float<T>(f + delta);
  return true;
}

// Biases one 16-byte group held in registers: columns [c, c + kVec), c a multiple of kVec (so
// of 4: the group starts a PRF block).
template <typename T>
__device__ __forceinline__ void bias_registers(uint4& raw, int64_t c, const KgwRowParams& p) {
  constexpr int kVec = 16 / sizeof(T);
  T v[kVec];
  memcpy(v, &raw, sizeof(raw));
#pragma unroll
  for (int j = 0; j < kVec; j += 4) {
    const U32x4 w = prf_block(p.key, p.ctx, static_cast<uint32_t>((c + j) >> 2), kDomainKgwGreen);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      if (kgw_is_green(w.v[q], p.threshold)) add_delta(v[j + q], p.delta);
    }
  }
  memcpy(&raw, v, sizeof(raw));
}

// The same group element by element: unaligned rows and the row's partial last group.
template <typename T>
__device__ __forceinline__ void bias_elements(T* row, int64_t c, int64_t vocab,
                                              const KgwRowParams& p) {
  constexpr int kVec = 16 / sizeof(T);
#pragma unroll
  for (int j = 0; j < kVec; j += 4) {
    if (c + j >= vocab) return;
    const U32x4 w = prf_block(p.key, p.ctx, static_cast<uint32_t>((c + j) >> 2), kDomainKgwGreen);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      if (c + j + q < vocab && kgw_is_green(w.v[q], p.threshold)) {
        T x = row[c + j + q];
        if (add_delta(x, p.delta)) row[c + j + q] = x;
      }
    }
  }
}

// Groups each thread keeps in flight: all loads are issued before the first PRF call, so the
// memory latency overlaps (one group per thread left an H100 at ~70% of copy bandwidth).
constexpr int kGroupsInFlight = 4;

// Tiles are (row, split) pairs; split s covers groups [s * G / splits, (s + 1) * G / splits).
template <typename T, typename IdT>
__global__ void __launch_bounds__(kThreads)
    kgw_bias_kernel(KgwBiasArgs a, int64_t splits, int64_t groups_per_row) {
  constexpr int kVec = 16 / sizeof(T);
  __shared__ KgwRowParams shared_params;
  const int64_t n_tiles = a.batch * splits;
  for (int64_t t = blockIdx.x; t < n_tiles; t += gridDim.x) {
    const int64_t row = t / splits, split = t % splits;
    // The context hash is a serial chain over `width` ids: one thread computes it per tile.
    if (threadIdx.x == 0) shared_params = kgw_row_params<IdT>(a, row);
    __syncthreads();
    const KgwRowParams p = shared_params;
    __syncthreads();  // every thread has its copy before thread 0 overwrites it for the next tile
    if (!p.active) continue;
    T* row_ptr = static_cast<T*>(a.logits) + row * a.logits_row_stride;
    const bool aligned = reinterpret_cast<uintptr_t>(row_ptr) % 16 == 0;
    const int64_t g0 = split * groups_per_row / splits;
    const int64_t g1 = (split + 1) * groups_per_row / splits;
    const int64_t step = static_cast<int64_t>(blockDim.x);
    for (int64_t g = g0 + threadIdx.x; g < g1; g += kGroupsInFlight * step) {
      uint4 raw[kGroupsInFlight];
      bool whole[kGroupsInFlight];
#pragma unroll
      for (int u = 0; u < kGroupsInFlight; ++u) {
        const int64_t gu = g + u * step;
        whole[u] = aligned && gu < g1 && (gu + 1) * kVec <= a.vocab;
        if (whole[u]) raw[u] = *reinterpret_cast<const uint4*>(row_ptr + gu * kVec);
      }
#pragma unroll
      for (int u = 0; u < kGroupsInFlight; ++u) {
        const int64_t gu = g + u * step;
        if (whole[u]) {
          bias_registers<T>(raw[u], gu * kVec, p);
          *reinterpret_cast<uint4*>(row_ptr + gu * kVec) = raw[u];
        } else if (gu < g1) {
          bias_elements<T>(row_ptr, gu * kVec, a.vocab, p);
        }
      }
    }
  }
}

template <typename T, typename IdT>
cudaError_t launch_bias(const KgwBiasArgs& a, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  int grid_cap = 0;
  const cudaError_t err = device_grid_cap(&grid_cap);
  if (err != cudaSuccess) return err;
  const int64_t groups_per_row = ceil_div(a.vocab, kVec);
  // Enough tiles to give every block work, but at least one group per thread per tile so the
  // per-tile context hash stays cheap next to the row work.
  int64_t splits = ceil_div(grid_cap, a.batch);
  const int64_t max_splits = ceil_div(groups_per_row, kThreads);
  if (splits > max_splits) splits = max_splits;
  const int64_t n_tiles = a.batch * splits;
  const int grid = static_cast<int>(n_tiles < grid_cap ? n_tiles : grid_cap);
  kgw_bias_kernel<T, IdT><<<grid, kThreads, 0, stream>>>(a, splits, groups_per_row);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_bias_ids(const KgwBiasArgs& a, cudaStream_t stream) {
  return a.ids_is_int64 ? launch_bias<T, int64_t>(a, stream) : launch_bias<T, int32_t>(a, stream);
}

}  // namespace

cudaError_t apply_kgw_bias_cuda(const KgwBiasArgs& a, cudaStream_t stream) {
  if (a.batch < 0 || a.vocab < 0 || a.ids_len < 0 || a.width < 0) return cudaErrorInvalidValue;
  if (a.batch > 1 && a.logits_row_stride < a.vocab) return cudaErrorInvalidValue;
  if (a.batch == 0 || a.vocab == 0) return cudaSuccess;
  switch (a.dtype) {
    case kFloat32:
      return launch_bias_ids<float>(a, stream);
    case kFloat16:
      return launch_bias_ids<__half>(a, stream);
    case kBFloat16:
      return launch_bias_ids<__nv_bfloat16>(a, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace tokenmark::cuda
