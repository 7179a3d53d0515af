// SGLang's watermark detection on the CPU (a dialect: see tokenmark/sglang.h).
#pragma once

#include <cstdint>

namespace tokenmark::cpu {

struct SglangScoreArgs {
  const int32_t* tokens;   // [n_tokens]
  const int64_t* offsets;  // [n_docs + 1]
  const int64_t* prefix;   // [n_docs] prompt length of each document (clamped), or null: none
  int64_t n_docs;
  int width;             // context window: the up to `width` tokens before a position
  int64_t max_contexts;  // stop after this many distinct contexts
  const uint64_t* keys;  // [n_keys] key A (and key B)
  int n_keys;
  uint32_t threshold;  // dual key: key A where coin < threshold
  int64_t* n_scored;   // [n_docs] distinct contexts scored
  int64_t* n_key_a;    // [n_docs] dual key: of them, those whose coin chose key A
  double* sums;        // [n_docs, 5] combined, key A all, key B all, A partition, B partition
  uint8_t* counted;    // [n_tokens] or null
};

void score_sglang(const SglangScoreArgs& a);

}  // namespace tokenmark::cpu
