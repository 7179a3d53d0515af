// The Gumbel-max watermark (Aaronson 2022; EXP of Kuditipudi et al. 2023) on the tokenmark PRF.
// Frozen like prf.h: these lines decide which token a watermarked generation picked and what the
// detector scores (docs/prf.md, "Gumbel").
//
// Host+device, float64 throughout: the sampled token is the argmax of logit + gumbel_noise, and
// every backend must pick the same one.
#pragma once

#include <cmath>

#include "tokenmark/prf.h"

namespace tokenmark {

// The PRF word as a uniform in (0, 1): (word + 0.5) / 2^32, exact in float64, never 0 or 1.
TM_HD double gumbel_uniform(uint32_t word) {
  return (static_cast<double>(word) + 0.5) * (1.0 / 4294967296.0);
}

// Standard Gumbel noise -log(-log u). Non-decreasing in `word` (log is monotone), which the CPU
// sampler's exact pruning relies on.
TM_HD double gumbel_noise(uint32_t word) { return -log(-log(gumbel_uniform(word))); }

// Detection term -log(1 - u): Exp(1) under the null. 1 - u = (2^32 - word - 0.5) / 2^32 is
// exact in float64, so no cancellation for words near 2^32.
TM_HD double gumbel_score_term(uint32_t word) {
  const double one_minus_u =
      (4294967296.0 - static_cast<double>(word) - 0.5) * (1.0 / 4294967296.0);
  return -log(one_minus_u);
}

// The largest noise any word can give (word = 2^32 - 1): no token whose logit is more than this
// below the best score so far can still win.
TM_HD double gumbel_noise_max() { return gumbel_noise(0xFFFFFFFFu); }

}  // namespace tokenmark
