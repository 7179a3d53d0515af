// vLLM dialect scorer (csrc/cuda/vllm_score.cu, with doc_scan.cuh's scan and table helpers)
// under the host emulation: a C entry point on host pointers for test_cuda_emu_vllm_score.py.
#include <vector>

#include "emu_rows.h"
#include "vllm_score.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_score_vllm(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets, int64_t n_docs,
                   const int64_t* prefix, int context_width, const uint64_t* keys,
                   const double* weights, int n_keys, int dedup, int64_t* n_scored, double* score,
                   uint8_t* counted) {
  using namespace tokenmark;
  cuda::VllmScoreArgs a{};
  ::tm_emu::doc_args(a, tokens, n_tokens, offsets, n_docs, prefix, nullptr, 0, 0, dedup, n_scored,
                     counted);
  a.context_width = context_width;
  a.n_keys = n_keys;
  for (int k = 0; k < n_keys; ++k) {
    a.keys[k] = keys[k];
    a.weights[k] = weights[k];
  }
  a.score = score;
  const size_t bytes = cuda::score_vllm_workspace_bytes(n_tokens, n_keys, a.dedup);
  std::vector<uint64_t> ws(bytes / 8 + 1, 0xA5A5A5A5A5A5A5A5ull);  // poisoned, 8-byte aligned
  return cuda::score_vllm_cuda(a, ws.data(), bytes, nullptr);
}

}  // extern "C"
