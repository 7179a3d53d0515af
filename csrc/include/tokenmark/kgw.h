// KGW (Kirchenbauer et al. 2023) on the tokenmark PRF. Frozen like prf.h.
#pragma once

#include "tokenmark/prf.h"

namespace tokenmark {

// A token is green when its PRF word falls below the threshold floor(gamma * 2^32): membership
// needs no vocabulary size and no permutation, and the green probability is exactly
// threshold / 2^32 (the detector uses that value, not gamma).
TM_HD bool kgw_is_green(uint32_t word, uint32_t threshold) { return word < threshold; }

TM_HD bool kgw_token_green(const Key128& key, uint32_t ctx, uint32_t token, uint32_t threshold) {
  return kgw_is_green(prf_word(key, ctx, token, kDomainKgwGreen), threshold);
}

}  // namespace tokenmark
