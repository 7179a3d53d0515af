// CUDA launchers of the KGW operations. Pointers and sizes in, cudaError_t out; nothing is
// allocated and nothing synchronises, so every launcher can be captured in a CUDA graph. The
// bindings validate the arguments; the launchers only reject what would be unsafe to run.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tokenmark/kgw_params.h"

namespace tokenmark::cuda {

// In-place KGW bias on a.logits [batch, vocab]. Input ids are not range-checked on the device
// (that would need a sync): an id outside [0, 2^31) hashes like its low 32 bits.
cudaError_t apply_kgw_bias_cuda(const KgwBiasArgs& a, cudaStream_t stream);

// Scratch bytes score_kgw_cuda needs: a hash table of 2 * n_tokens slots with dedup, none
// without.
size_t score_kgw_workspace_bytes(int64_t n_tokens, bool dedup);

// Ragged scoring. Requires valid offsets (offsets[0] == 0, non-decreasing, offsets[n_docs] ==
// n_tokens) and tokens >= 0: the caller checks them. Any prefix value is safe: the kernels clamp
// it to the document's length before adding it to the offset (a negative one counts as 0), so a
// prefix near 2^63 scores nothing instead of overflowing. `workspace` holds at least
// score_kgw_workspace_bytes(n_tokens, dedup) bytes, 4-byte aligned; dedup needs
// n_tokens < 2^31 (positions live in 32-bit table slots).
cudaError_t score_kgw_cuda(const KgwScoreArgs& a, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream);

}  // namespace tokenmark::cuda
