// CUDA launchers of the Gumbel operations. Pointers and sizes in, cudaError_t out; nothing is
// allocated and nothing synchronises (CUDA-graph capturable). The bindings validate the
// arguments; the launchers only reject what would be unsafe to run.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tokenmark/gumbel_params.h"

namespace tokenmark::cuda {

// sample_gumbel on a.logits [batch, vocab] (device memory, as are the ids, keys, salts, enabled
// flags and a.out). One block per row; writes a.out[b] for every row: the token,
// kNotWatermarked or kNoFiniteLogit (never raised: that would need a sync).
cudaError_t sample_gumbel_cuda(const GumbelSampleArgs& a, cudaStream_t stream);

// Scratch bytes score_gumbel_cuda needs: a float64 term per token, plus with dedup a hash table
// of 2 * n_tokens 32-bit slots.
size_t score_gumbel_workspace_bytes(int64_t n_tokens, bool dedup);

// Ragged scoring, as score_kgw_cuda (kgw_cuda.h): valid offsets and tokens >= 0 are the
// caller's to check, any prefix is safe; `workspace` holds score_gumbel_workspace_bytes bytes,
// 8-byte aligned; dedup needs n_tokens < 2^31.
cudaError_t score_gumbel_cuda(const GumbelScoreArgs& a, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream);

}  // namespace tokenmark::cuda
