// KGW scorer (csrc/cuda/kgw_score.cu, with doc_scan.cuh's count scan and dedup table) under the
// host emulation: a C entry point on host pointers for test_cuda_emu_kgw_score.py.
#include <vector>

#include "emu_rows.h"
#include "kgw_score.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_score_kgw(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets, int64_t n_docs,
                  const int64_t* prefix, const uint32_t* key, uint32_t threshold, int width,
                  int seeding, int dedup, int64_t* n_scored, int64_t* n_green, int8_t* green,
                  uint8_t* counted) {
  using namespace tokenmark;
  KgwScoreArgs a{};
  ::tm_emu::doc_args(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding, dedup,
                     n_scored, counted);
  a.threshold = threshold;
  a.n_green = n_green;
  a.green = green;
  const size_t bytes = cuda::score_kgw_workspace_bytes(n_tokens, a.dedup);
  std::vector<uint32_t> ws(bytes / 4 + 1, 0xA5A5A5A5u);  // poisoned
  return cuda::score_kgw_cuda(a, ws.data(), bytes, nullptr);
}

}  // extern "C"
