// Argument bundles of the SynthID-Text operations, shared by the CPU and (later) CUDA launchers.
#pragma once

#include <cstdint>

#include "tokenmark/kgw_params.h"  // LogitsDtype

namespace tokenmark {

struct SynthIdSampleArgs {
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
  const double* uniforms;  // [batch] in [0, 1): each row's sampling draw
  const uint8_t* enabled;  // [batch] or nullptr (all rows enabled)
  int32_t width;           // context width h
  int32_t seeding;         // Seeding
  int32_t layers;          // tournament layers m, 1..32
  int64_t top_k;           // 0: the whole vocabulary; else the k largest logits
  int64_t history;         // positions searched for a repeated context (0: none)
  int64_t* out;            // [batch]: the token, or kSynthIdNoFiniteLogit
  uint8_t* marked;         // [batch]: 1 where the tournament ran
};

constexpr int64_t kSynthIdNoFiniteLogit = -2;

struct SynthIdScoreArgs {
  const int32_t* tokens;  // [n_tokens], all >= 0
  int64_t n_tokens;
  const int64_t* offsets;  // [n_docs + 1]
  int64_t n_docs;
  const int64_t* prefix;  // [n_docs] or nullptr
  uint32_t key[4];
  int32_t width;
  int32_t seeding;
  int32_t layers;
  bool dedup;
  int64_t* n_scored;  // [n_docs] out
  int64_t* ones;      // [n_docs, layers] out: g-values equal to 1 per layer
  uint8_t* counted;   // [n_tokens] out or nullptr
};

}  // namespace tokenmark
