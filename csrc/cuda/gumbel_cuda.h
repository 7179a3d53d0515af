// CUDA launchers of the Gumbel operations. Pointers and sizes in, cudaError_t out; nothing is
// allocated and nothing synchronises (CUDA-graph capturable). The bindings validate the
// arguments; the launchers only reject what would be unsafe to run.
#pragma once

#include <cuda_runtime.h>

#include "tokenmark/gumbel_params.h"

namespace tokenmark::cuda {

// sample_gumbel on a.logits [batch, vocab] (device memory, as are the ids, keys, salts, enabled
// flags and a.out). One block per row; writes a.out[b] for every row: the token,
// kGumbelNotWatermarked or kGumbelNoFiniteLogit (never raised: that would need a sync).
cudaError_t sample_gumbel_cuda(const GumbelSampleArgs& a, cudaStream_t stream);

}  // namespace tokenmark::cuda
