// The processors' step of the host samplers (step_binding.cpp): after sampling, each row with a
// token becomes one-hot at it in the logits themselves, so a decode step makes one call.
#pragma once

#include <cstdint>
#include <string>

#include "../cpu/one_hot.h"
#include "checks.h"

namespace tokenmark::bind {

// With the GIL released, after the sampler filled `out` [batch]: the first row without a finite
// logit (then nothing is written), or -1 once every row with a token is one-hot.
template <typename Args>
int64_t one_hot_step_(void* logits, const Args& a, const int64_t* out) {
  for (int64_t b = 0; b < a.batch; ++b) {
    if (out[b] == kNoFiniteLogit) return b;
  }
  cpu::one_hot_rows_(logits, a.dtype, a.batch, a.vocab, a.logits_row_stride, out);
  return -1;
}

inline void raise_no_finite_row(int64_t row) {
  if (row >= 0) fail_value("logits: row " + std::to_string(row) + " has no finite entry to sample");
}

}  // namespace tokenmark::bind
