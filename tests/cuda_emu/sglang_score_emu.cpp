// SGLang dialect scorer (csrc/cuda/sglang_score.cu, with doc_scan.cuh's term scan) under the
// host emulation: a C entry point on host pointers for test_cuda_emu_sglang_score.py.
#include <vector>

#include "emu_rows.h"
#include "sglang_score.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_score_sglang(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                     int64_t n_docs, const int64_t* prefix, int context_width, int64_t max_contexts,
                     const uint64_t* keys, int n_keys, uint32_t threshold, int64_t* n_scored,
                     int64_t* n_key_a, double* sums, uint8_t* counted) {
  using namespace tokenmark;
  cuda::SglangScoreArgs a{};
  ::tm_emu::doc_args(a, tokens, n_tokens, offsets, n_docs, prefix, nullptr, 0, 0, 1, n_scored,
                     counted);
  a.context_width = context_width;
  a.max_contexts = max_contexts;
  a.n_keys = n_keys;
  for (int k = 0; k < n_keys; ++k) a.keys[k] = keys[k];
  a.threshold = threshold;
  a.n_key_a = n_key_a;
  a.sums = sums;
  const size_t bytes = cuda::score_sglang_workspace_bytes(n_tokens, n_keys);
  std::vector<uint64_t> ws(bytes / 8 + 1, 0xA5A5A5A5A5A5A5A5ull);  // poisoned, 8-byte aligned
  return cuda::score_sglang_cuda(a, ws.data(), bytes, nullptr);
}

}  // extern "C"
