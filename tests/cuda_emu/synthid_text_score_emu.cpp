// SynthID-Text dialect scorer (csrc/cuda/synthid_text_score.cu) under the host emulation: a C
// entry point on host pointers for test_cuda_emu_synthid_text_score.py.
#include <vector>

#include "synthid_text_score.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_score_synthid_text(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                           int64_t n_docs, const int64_t* prefix, int ngram_len,
                           const uint64_t* key_terms, int depth, const uint8_t* table,
                           int64_t table_size, int64_t history, int mask_repeated, int64_t eos,
                           int64_t* n_scored, int64_t* ones, uint8_t* counted) {
  using namespace tokenmark;
  cuda::SynthidTextScoreArgs a{};
  a.tokens = tokens;
  a.n_tokens = n_tokens;
  a.offsets = offsets;
  a.n_docs = n_docs;
  a.prefix = prefix;
  a.ngram_len = ngram_len;
  a.key_terms = key_terms;
  a.depth = depth;
  a.table = table;
  a.table_size = table_size;
  a.history = history;
  a.mask_repeated = mask_repeated != 0;
  a.eos = eos;
  a.n_scored = n_scored;
  a.ones = ones;
  a.counted = counted;
  const size_t bytes = cuda::score_synthid_text_workspace_bytes(n_tokens);
  std::vector<uint64_t> ws(bytes / 8 + 1, 0xA5A5A5A5A5A5A5A5ull);  // poisoned, 8-byte aligned
  return cuda::score_synthid_text_cuda(a, ws.data(), bytes, nullptr);
}

}  // extern "C"
