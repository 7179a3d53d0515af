// CUDA launcher of the GINSEW embedding op. Pointers and sizes in, cudaError_t out; nothing is
// allocated and nothing synchronises (capturable in a CUDA graph). The binding validates the
// arguments; the launcher only rejects what would be unsafe to run.
#pragma once

#include <cuda_runtime.h>

#include "tokenmark/ginsew.h"

namespace tokenmark::cuda {

// In place on a.logits [batch, vocab]: the perturbed log-probabilities (docs/prf.md section 8).
cudaError_t apply_ginsew_cuda(const GinsewArgs& a, cudaStream_t stream);

}  // namespace tokenmark::cuda
