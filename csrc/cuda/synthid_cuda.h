// CUDA launchers of the SynthID-Text operations. Pointers and sizes in, cudaError_t out;
// nothing is allocated and nothing synchronises. The bindings validate the arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tokenmark/synthid_params.h"

namespace tokenmark::cuda {

// Scratch bytes score_synthid_cuda needs: a hash table of 2 * n_tokens slots with dedup, none
// without.
size_t score_synthid_workspace_bytes(int64_t n_tokens, bool dedup);

// Ragged scoring, as score_kgw_cuda (kgw_cuda.h): valid offsets, prefix >= 0, tokens >= 0 and
// 1 <= layers <= 32 are the caller's to check; `workspace` holds
// score_synthid_workspace_bytes bytes, 4-byte aligned; dedup needs n_tokens < 2^31.
cudaError_t score_synthid_cuda(const SynthIdScoreArgs& a, void* workspace, size_t workspace_bytes,
                               cudaStream_t stream);

}  // namespace tokenmark::cuda
