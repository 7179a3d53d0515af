// SynthID scorer (csrc/cuda/synthid_score.cu, with doc_scan.cuh's shared scan and dedup table)
// under the host emulation: a C entry point on host pointers for test_cuda_emu_synthid_score.py.
#include <vector>

#include "emu_rows.h"
#include "synthid_score.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_score_synthid(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                      int64_t n_docs, const int64_t* prefix, const uint32_t* key, int width,
                      int seeding, int dedup, int layers, int64_t* n_scored, int64_t* ones,
                      uint8_t* counted) {
  using namespace tokenmark;
  SynthIdScoreArgs a{};
  ::tm_emu::doc_args(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding, dedup,
                     n_scored, counted);
  a.layers = layers;
  a.ones = ones;
  const size_t bytes = cuda::score_synthid_workspace_bytes(n_tokens, a.dedup);
  std::vector<uint32_t> ws(bytes / 4 + 1, 0xA5A5A5A5u);  // poisoned
  return cuda::score_synthid_cuda(a, ws.data(), bytes, nullptr);
}

}  // extern "C"
