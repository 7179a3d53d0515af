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
