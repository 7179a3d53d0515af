// CUDA launchers of the Gumbel operations. Pointers and sizes in, cudaError_t out; nothing is
// allocated and nothing synchronises (CUDA-graph capturable). The bindings validate the
// arguments; the launchers only reject what would be unsafe to run.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tokenmark/gumbel_params.h"

namespace tokenmark::cuda {

// Vocabularies from which `splits = 0` (auto) splits each row over several blocks (about one
// wave of blocks in all). Measured on an H200 in two runs (bench/RESULTS.md, bench_gpu_gumbel.py's
// layout table, bfloat16, batch 1-128): split rows take 0.55-1.08x the one-block time at 32768,
// 0.20-0.82x from 65536 up, and 0.82-1.15x below 32768, where neither layout wins every run.
constexpr int64_t kGumbelSplitMinVocab = 32768;

// Scratch bytes sample_gumbel_cuda may need for split rows (16 bytes per row and block; 0 for
// rows too short to split).
size_t sample_gumbel_workspace_bytes(int64_t batch, int64_t vocab);

// sample_gumbel on a.logits [batch, vocab] (device memory, as are the ids, keys, salts, enabled
// flags and a.out). `splits` blocks per row: 0 decides (one block per row below
// kGumbelSplitMinVocab), 1 forces one block per row, n > 1 asks for n (at most one per 2048
// ids); split rows need `workspace` (8-byte aligned) of sample_gumbel_workspace_bytes bytes and
// take a second launch. Writes a.out[b] for every row: the token, kNotWatermarked or
// kNoFiniteLogit (never raised: that would need a sync).
cudaError_t sample_gumbel_cuda(const GumbelSampleArgs& a, int64_t splits, void* workspace,
                               size_t workspace_bytes, cudaStream_t stream);

// Scratch bytes score_gumbel_cuda needs: a float64 term per token, plus with dedup a hash table
// of 2 * n_tokens 32-bit slots.
size_t score_gumbel_workspace_bytes(int64_t n_tokens, bool dedup);

// Ragged scoring, as score_kgw_cuda (kgw_cuda.h): valid offsets and tokens >= 0 are the
// caller's to check, any prefix is safe; `workspace` holds score_gumbel_workspace_bytes bytes,
// 8-byte aligned; dedup needs n_tokens < 2^31.
cudaError_t score_gumbel_cuda(const GumbelScoreArgs& a, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream);

}  // namespace tokenmark::cuda
