// Argument bundles of the KGW operations, shared by the CPU and CUDA launchers. Plain data:
// the bindings fill them after validating every pointer, size and range.
#pragma once

#include <cstdint>

namespace tokenmark {

enum LogitsDtype : int32_t { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// Per-row parameters use a stride: 0 broadcasts one value to every row, 1 (or 4 for keys)
// reads one value per row, so one launch serves a batch of requests with different settings.
struct KgwBiasArgs {
  void* logits;  // [batch, vocab] in `dtype`, rows `logits_row_stride` elements apart
  int64_t batch;
  int64_t vocab;
  int64_t logits_row_stride;
  LogitsDtype dtype;
  const void* input_ids;  // [batch, ids_len], int64 if ids_is_int64 else int32
  bool ids_is_int64;
  int64_t ids_len;
  int64_t ids_row_stride;      // elements
  const uint32_t* keys;        // [batch or 1, 4]
  int64_t key_stride;          // 4 or 0
  const uint32_t* thresholds;  // [batch or 1]: floor(gamma * 2^32)
  int64_t threshold_stride;
  const float* deltas;  // [batch or 1]
  int64_t delta_stride;
  const uint8_t* enabled;  // [batch] or nullptr (all rows enabled)
  int32_t width;           // context width h
  int32_t seeding;         // Seeding
};

struct KgwScoreArgs {
  const int32_t* tokens;  // [n_tokens], all >= 0
  int64_t n_tokens;
  const int64_t* offsets;  // [n_docs + 1], offsets[0] == 0, non-decreasing, last == n_tokens
  int64_t n_docs;
  const int64_t* prefix;  // [n_docs] tokens of each document that are context only, or nullptr
  uint32_t key[4];
  uint32_t threshold;
  int32_t width;
  int32_t seeding;
  bool dedup;         // count each (context hash, token) pair once per document
  int64_t* n_scored;  // [n_docs] out
  int64_t* n_green;   // [n_docs] out
  int8_t* green;      // [n_tokens] out or nullptr: 1 green, 0 red, -1 not scored (no context)
  uint8_t* counted;   // [n_tokens] out or nullptr: 1 where the token entered the counts
};

}  // namespace tokenmark
