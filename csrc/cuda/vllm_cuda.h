// CUDA launcher of the vLLM dialect's detector (tokenmark/vllm.h; the CPU's is
// csrc/cpu/vllm_score.cpp). Pointers and sizes in, cudaError_t out; nothing is allocated and
// nothing synchronises. The binding validates the arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tokenmark/common_params.h"

namespace tokenmark::cuda {

// vLLM's Gumbel / dual-key Gumbel detection over ragged documents. DocArgs::width is 0: vLLM
// scores from the prefix on (its context words before the prefix are -1), so the scored part
// of document d starts at offsets[d] + min(len, prefix[d]); DocArgs::key and ::seeding are
// unused. With dedup a position counts when its context (the context_width words, compared
// exactly) is the first of its kind in the document.
struct VllmScoreArgs : DocArgs {
  int32_t context_width;  // 1 .. 1024
  int32_t n_keys;         // 1 (gumbel) or 2 (dual key: key A, key B)
  uint64_t keys[2];       // Philox keys
  double weights[2];      // per-key weight of -log1p(-u)
  double* score;          // [n_docs] out
};

// Scratch bytes score_vllm_cuda needs: a float64 term per token and key, plus with dedup a hash
// table of 2 * n_tokens 32-bit slots.
size_t score_vllm_workspace_bytes(int64_t n_tokens, int n_keys, bool dedup);

// As score_gumbel_cuda (gumbel_cuda.h): valid offsets and tokens >= 0 are the caller's to check,
// any prefix is safe; `workspace` holds score_vllm_workspace_bytes bytes, 8-byte aligned; dedup
// needs n_tokens < 2^31. score[d] adds weight * -log1p(-u) over the counted positions in token
// order, keys inner, as the CPU's scalar path; CUDA's log1p is within an ulp or two of glibc's,
// so a score can differ from the CPU's in its last bits, while n_scored and counted are exact.
cudaError_t score_vllm_cuda(const VllmScoreArgs& a, void* workspace, size_t workspace_bytes,
                            cudaStream_t stream);

}  // namespace tokenmark::cuda
