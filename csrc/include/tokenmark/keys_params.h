// Argument bundles of the K-key scorers: one pass over ragged documents for K keys that share
// every other parameter. DocArgs::key is not used; `keys` holds the K keys.
#pragma once

#include <cstdint>

#include "tokenmark/common_params.h"

namespace tokenmark {

struct KeysScoreArgs : DocArgs {
  const uint32_t* keys;  // [n_keys, 4]
  int64_t n_keys;
};

struct KgwKeysScoreArgs : KeysScoreArgs {
  uint32_t threshold;
  int64_t* n_green;  // [n_keys, n_docs] out
};

struct GumbelKeysScoreArgs : KeysScoreArgs {
  const uint32_t* salts;  // [n_docs or 1]
  int64_t salt_stride;    // 1 or 0
  double* score;          // [n_keys, n_docs] out
};

struct SynthIdKeysScoreArgs : KeysScoreArgs {
  int32_t layers;
  int64_t* ones;  // [n_keys, n_docs, layers] out
};

}  // namespace tokenmark
