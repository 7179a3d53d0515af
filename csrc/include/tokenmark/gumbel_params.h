// Argument bundles of the Gumbel operations, shared by the CPU and (later) CUDA launchers. Plain
// data: the bindings fill them after validating every pointer, size and range.
#pragma once

#include <cstdint>

#include "tokenmark/kgw_params.h"  // LogitsDtype

namespace tokenmark {

// Per-row parameters use a stride: 0 broadcasts one value to every row, 1 (4 for keys) reads one
// value per row.
struct GumbelSampleArgs {
  const void* logits;  // [batch, vocab] in `dtype`, rows `logits_row_stride` elements apart
  int64_t batch;
  int64_t vocab;
  int64_t logits_row_stride;
  LogitsDtype dtype;
  const void* input_ids;  // [batch, ids_len], int64 if ids_is_int64 else int32
  bool ids_is_int64;
  int64_t ids_len;
  int64_t ids_row_stride;  // elements
  const uint32_t* keys;    // [batch or 1, 4]
  int64_t key_stride;      // 4 or 0
  const uint32_t* salts;   // [batch or 1]: XORed into the context hash (0: no salt)
  int64_t salt_stride;
  const uint8_t* enabled;  // [batch] or nullptr (all rows enabled)
  int32_t width;           // context width h
  int32_t seeding;         // Seeding
  bool skip_repeated;      // leave a row alone when its context hash occurred earlier in it
  int64_t* out;            // [batch]: the token, kGumbelNotWatermarked or kGumbelNoFiniteLogit
};

// Row outcomes besides a token id.
constexpr int64_t kGumbelNotWatermarked = -1;  // disabled, context too short, or repeated
constexpr int64_t kGumbelNoFiniteLogit = -2;   // every logit is -inf or NaN

struct GumbelScoreArgs {
  const int32_t* tokens;  // [n_tokens], all >= 0
  int64_t n_tokens;
  const int64_t* offsets;  // [n_docs + 1], offsets[0] == 0, non-decreasing, last == n_tokens
  int64_t n_docs;
  const int64_t* prefix;  // [n_docs] tokens of each document that are context only, or nullptr
  uint32_t key[4];
  const uint32_t* salts;  // [n_docs or 1]
  int64_t salt_stride;    // 1 or 0
  int32_t width;
  int32_t seeding;
  bool dedup;         // count each (context hash, token) pair once per document
  int64_t* n_scored;  // [n_docs] out
  double* score;      // [n_docs] out: sum of -log(1 - u) over the counted tokens
  uint8_t* counted;   // [n_tokens] out or nullptr: 1 where the token entered the score
};

}  // namespace tokenmark
