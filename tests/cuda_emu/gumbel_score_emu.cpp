// Gumbel scorer (csrc/cuda/gumbel_score.cu, with doc_scan.cuh's term scan and dedup table) under
// the host emulation: a C entry point on host pointers for test_cuda_emu_gumbel_score.py.
#include <vector>

#include "emu_rows.h"
#include "gumbel_score.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_score_gumbel(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                     int64_t n_docs, const int64_t* prefix, const uint32_t* key,
                     const uint32_t* salts, int64_t salt_stride, int width, int seeding, int dedup,
                     int64_t* n_scored, double* score, uint8_t* counted) {
  using namespace tokenmark;
  GumbelScoreArgs a{};
  ::tm_emu::doc_args(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding, dedup,
                     n_scored, counted);
  a.salts = salts;
  a.salt_stride = salt_stride;
  a.score = score;
  const size_t bytes = cuda::score_gumbel_workspace_bytes(n_tokens, a.dedup);
  std::vector<uint64_t> ws(bytes / 8 + 1, 0xA5A5A5A5A5A5A5A5ull);  // poisoned, 8-byte aligned
  return cuda::score_gumbel_cuda(a, ws.data(), bytes, nullptr);
}

}  // extern "C"
