// Argument bundles of the KGW operations, shared by the CPU and CUDA launchers.
#pragma once

#include <cstdint>

#include "tokenmark/common_params.h"

namespace tokenmark {

struct KgwBiasArgs : RowArgs<void> {
  const uint32_t* thresholds;  // [batch or 1]: floor(gamma * 2^32)
  int64_t threshold_stride;
  const float* deltas;  // [batch or 1]
  int64_t delta_stride;
};

struct KgwScoreArgs : DocArgs {
  uint32_t threshold;
  int64_t* n_green;  // [n_docs] out
  int8_t* green;     // [n_tokens] out or nullptr: 1 green, 0 red, -1 not scored (no context)
};

}  // namespace tokenmark
