// Argument bundles of the Gumbel operations, shared by the CPU and CUDA launchers.
#pragma once

#include <cstdint>

#include "tokenmark/common_params.h"

namespace tokenmark {

struct GumbelSampleArgs : RowArgs<const void> {
  const uint32_t* salts;  // [batch or 1]: XORed into the context hash (0: no salt)
  int64_t salt_stride;
  bool skip_repeated;  // leave a row alone when its context hash occurred earlier in it
  int64_t* out;        // [batch]: the token, kNotWatermarked or kNoFiniteLogit
};

struct GumbelScoreArgs : DocArgs {
  const uint32_t* salts;  // [n_docs or 1]
  int64_t salt_stride;    // 1 or 0
  double* score;          // [n_docs] out: sum of -log(1 - u) over the counted tokens
};

}  // namespace tokenmark
