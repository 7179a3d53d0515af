// CUDA launcher of the SGLang dialect's detector (tokenmark/sglang.h; the CPU's is
// csrc/cpu/sglang_score.cpp). Pointers and sizes in, cudaError_t out; nothing is allocated and
// nothing synchronises. The binding validates the arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tokenmark/common_params.h"

namespace tokenmark::cuda {

// SGLang's detector over ragged documents: from the prompt's end (or, without a prompt, from
// `context_width` tokens in) each distinct context (the up to context_width tokens before a
// position, the prompt's tail included, compared by length and words) counts once, until
// `max_contexts` of them. DocArgs::width is 0 (the cursor's scored part starts at the prompt's
// end); DocArgs::key, ::seeding and ::dedup are unused (SGLang always dedups).
struct SglangScoreArgs : DocArgs {
  int32_t context_width;  // 1 .. 64
  int64_t max_contexts;   // >= 1
  int32_t n_keys;         // 1 or 2 (key A, key B)
  uint64_t keys[2];
  uint32_t threshold;  // dual key: key A where the context's coin < threshold
  int64_t* n_key_a;    // [n_docs] out: dual key, the counted positions whose coin chose key A
  double* sums;        // [n_docs, 5] out: combined, key A all, key B all, A part, B part
};

// Scratch bytes: per token a float64 term per key and a coin byte, then the dedup table.
size_t score_sglang_workspace_bytes(int64_t n_tokens, int n_keys);

// Valid offsets and tokens >= 0 are the caller's to check, any prefix is safe; `workspace` holds
// score_sglang_workspace_bytes bytes, 8-byte aligned; n_tokens < 2^31. The sums add each counted
// position's terms in token order, as the CPU's scalar path (CUDA's log1p may differ from the
// host's in an ulp); n_scored, n_key_a and counted are exact.
cudaError_t score_sglang_cuda(const SglangScoreArgs& a, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream);

}  // namespace tokenmark::cuda
