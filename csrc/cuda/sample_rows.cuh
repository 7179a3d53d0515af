// Device helpers shared by the CUDA samplers (Gumbel, SynthID-Text): logit loads and the
// block-parallel repeated-context search.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "tokenmark/prf.h"
#include "tokenmark/types.h"

namespace tokenmark::cuda {

__device__ __forceinline__ float load_logit(const void* row, LogitsDtype dtype, int64_t i) {
  if (dtype == kFloat32) return static_cast<const float*>(row)[i];
  const unsigned short bits = static_cast<const unsigned short*>(row)[i];
  if (dtype == kFloat16) return __half2float(__ushort_as_half(bits));
  return __bfloat162float(__ushort_as_bfloat16(bits));
}

// Four neighbouring logits of a row, as floats.
struct Logits4 {
  float v[4];
};

// Whether a row's logits start where vector loads of 4 may read them (16 bytes for float32, 8
// for 16-bit floats); groups of 4 at multiples of 4 from there are then aligned too.
__device__ __forceinline__ bool logits_aligned4(const void* row, LogitsDtype dtype) {
  return reinterpret_cast<uintptr_t>(row) % (dtype == kFloat32 ? 16 : 8) == 0;
}

// Logits g .. g + 3 of a row (0 past `end`): one vector load when `aligned` (logits_aligned4,
// g a multiple of 4) and all four are in the row, else one load each.
__device__ __forceinline__ Logits4 load_logits4(const void* row, LogitsDtype dtype, int64_t g,
                                                int64_t end, bool aligned) {
  struct alignas(16) F32x4 {
    float v[4];
  };
  struct alignas(8) U16x4 {
    unsigned short v[4];
  };
  Logits4 x{};
  if (aligned && g + 4 <= end) {
    if (dtype == kFloat32) {
      const F32x4 f = *reinterpret_cast<const F32x4*>(static_cast<const float*>(row) + g);
      for (int k = 0; k < 4; ++k) x.v[k] = f.v[k];
    } else {
      const U16x4 u = *reinterpret_cast<const U16x4*>(static_cast<const unsigned short*>(row) + g);
      for (int k = 0; k < 4; ++k) {
        x.v[k] = dtype == kFloat16 ? __half2float(__ushort_as_half(u.v[k]))
                                   : __bfloat162float(__ushort_as_bfloat16(u.v[k]));
      }
    }
    return x;
  }
  for (int k = 0; k < 4 && g + k < end; ++k) x.v[k] = load_logit(row, dtype, g + k);
  return x;
}

template <typename IdT>
__device__ __forceinline__ uint32_t ids_context(const IdT* ids, int64_t end, int width,
                                                int seeding) {
  return context_hash(ids + end - width, width, seeding);
}

// Whether the row's next context hash occurred at a position j in [from, len) (from >= width):
// each thread hashes every blockDim-th position. Every thread of the block must call it.
template <typename IdT>
__device__ bool context_repeated_block(const IdT* ids, int64_t from, int64_t len, int width,
                                       int seeding, int* flag) {
  if (threadIdx.x == 0) *flag = 0;
  __syncthreads();
  const uint32_t now = ids_context(ids, len, width, seeding);
  for (int64_t j = from + threadIdx.x; j < len; j += blockDim.x) {
    if (ids_context(ids, j, width, seeding) == now) {
      *flag = 1;  // every writer stores the same value
      break;
    }
  }
  __syncthreads();
  const bool repeated = *flag != 0;
  __syncthreads();  // *flag is read before anyone may reuse it
  return repeated;
}

}  // namespace tokenmark::cuda
