// vLLM Gumbel / dual-key Gumbel detection on the CPU (a dialect: see tokenmark/vllm.h).
#pragma once

#include <cstdint>

namespace tokenmark::cpu {

struct VllmScoreArgs {
  const int32_t* tokens;   // [n_tokens]
  const int64_t* offsets;  // [n_docs + 1]
  const int64_t* starts;   // [n_docs] first scored position of each document, from its start;
                           // or null: 0
  int64_t n_docs;
  int width;
  const uint64_t* keys;   // [n_keys] Philox keys (gumbel: 1; dual key: key A, key B)
  const double* weights;  // [n_keys] per-key weight of -log1p(-u)
  int n_keys;
  bool dedup;         // skip positions whose context already occurred in the document
  int64_t* n_scored;  // [n_docs]
  double* score;      // [n_docs]
  uint8_t* counted;   // [n_tokens] or null
};

void score_vllm_gumbel(const VllmScoreArgs& a);

}  // namespace tokenmark::cpu
