// apply_ginsew_ on CUDA: one block per row, two passes over it. Pass 1: each thread keeps per
// group a running (max, sum of exp(x - max)) over groups of 4 token ids (one PRF call each),
// merged across the block in shared memory; thread 0 then forms the two offsets in double
// (ginsew_offsets, the lines the CPU kernel runs). Pass 2 writes x - max_g - offset_g over the
// finite entries. A grid-stride loop over rows keeps the grid within the device's size.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "ginsew_cuda.h"
#include "launch.h"

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

struct RowState {
  GinsewRowParams p;
  float m0, m1;  // per-group maxima
  float off0, off1;
};

template <typename T, typename IdT>
__global__ void __launch_bounds__(kThreads) ginsew_bias_kernel(GinsewArgs a) {
  __shared__ float sm0[kThreads], sm1[kThreads], ss0[kThreads], ss1[kThreads];
  __shared__ RowState row_state;
  for (int64_t row = blockIdx.x; row < a.batch; row += gridDim.x) {
    // The time is a serial hash chain over the window: one thread computes it.
    if (threadIdx.x == 0) row_state.p = ginsew_row_params<IdT>(a, row);
    __syncthreads();
    const GinsewRowParams p = row_state.p;
    T* x = static_cast<T*>(a.logits) + row * a.logits_row_stride;
    float m0 = -INFINITY, m1 = -INFINITY, s0 = 0.f, s1 = 0.f;
    for (int64_t c = 4 * static_cast<int64_t>(threadIdx.x); c < a.vocab; c += 4 * blockDim.x) {
      const U32x4 w = prf_block(p.key, 0u, static_cast<uint32_t>(c >> 2), kDomainGinsewGroup);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        if (c + q >= a.vocab) break;
        const float v = to_float(x[c + q]);
        if (!isfinite(v)) continue;  // NaN, +inf and -inf take no part in the sums
        if (ginsew_in_g0(w.v[q], p.threshold)) {
          ginsew_merge(&m0, &s0, v, 1.0f);
        } else {
          ginsew_merge(&m1, &s1, v, 1.0f);
        }
      }
    }
    sm0[threadIdx.x] = m0;
    ss0[threadIdx.x] = s0;
    sm1[threadIdx.x] = m1;
    ss1[threadIdx.x] = s1;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) {
        const int o = threadIdx.x + half;
        ginsew_merge(&sm0[threadIdx.x], &ss0[threadIdx.x], sm0[o], ss0[o]);
        ginsew_merge(&sm1[threadIdx.x], &ss1[threadIdx.x], sm1[o], ss1[o]);
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      double c0, c1;
      ginsew_offsets(p, sm0[0], ss0[0], sm1[0], ss1[0], &c0, &c1);
      row_state.m0 = sm0[0];
      row_state.m1 = sm1[0];
      row_state.off0 = static_cast<float>(c0);
      row_state.off1 = static_cast<float>(c1);
    }
    __syncthreads();
    const RowState st = row_state;
    if (!(st.m0 == -INFINITY && st.m1 == -INFINITY)) {
      for (int64_t c = 4 * static_cast<int64_t>(threadIdx.x); c < a.vocab; c += 4 * blockDim.x) {
        const U32x4 w = prf_block(p.key, 0u, static_cast<uint32_t>(c >> 2), kDomainGinsewGroup);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          if (c + q >= a.vocab) break;
          const float v = to_float(x[c + q]);
          if (!isfinite(v)) continue;  // -inf stays -inf, NaN keeps its bits, +inf stays
          const bool g0 = ginsew_in_g0(w.v[q], p.threshold);
          x[c + q] = from_float<T>(g0 ? (v - st.m0) - st.off0 : (v - st.m1) - st.off1);
        }
      }
    }
    __syncthreads();  // row_state and the shared sums are reused by the next row
  }
}

template <typename T>
cudaError_t launch(const GinsewArgs& a, cudaStream_t stream) {
  int grid_cap = 0;
  const cudaError_t err = device_grid_cap(&grid_cap);
  if (err != cudaSuccess) return err;
  const int grid = static_cast<int>(a.batch < grid_cap ? a.batch : grid_cap);
  if (a.ids_is_int64) {
    ginsew_bias_kernel<T, int64_t><<<grid, kThreads, 0, stream>>>(a);
  } else {
    ginsew_bias_kernel<T, int32_t><<<grid, kThreads, 0, stream>>>(a);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t apply_ginsew_cuda(const GinsewArgs& a, cudaStream_t stream) {
  if (a.batch < 0 || a.vocab < 0 || a.ids_len < 0 || a.width < 1) return cudaErrorInvalidValue;
  if (a.batch > 1 && a.logits_row_stride < a.vocab) return cudaErrorInvalidValue;
  if (a.batch == 0 || a.vocab == 0) return cudaSuccess;
  switch (a.dtype) {
    case kFloat32:
      return launch<float>(a, stream);
    case kFloat16:
      return launch<__half>(a, stream);
    case kBFloat16:
      return launch<__nv_bfloat16>(a, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace tokenmark::cuda
