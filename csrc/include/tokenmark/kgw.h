// KGW (Kirchenbauer et al. 2023) on the tokenmark PRF. Frozen like prf.h.
#pragma once

#include "tokenmark/kgw_params.h"
#include "tokenmark/prf.h"

namespace tokenmark {

// A token is green when its PRF word falls below the threshold floor(gamma * 2^32): membership
// needs no vocabulary size and no permutation, and the green probability is exactly
// threshold / 2^32 (the detector uses that value, not gamma).
TM_HD bool kgw_is_green(uint32_t word, uint32_t threshold) { return word < threshold; }

TM_HD bool kgw_token_green(const Key128& key, uint32_t ctx, uint32_t token, uint32_t threshold) {
  return kgw_is_green(prf_word(key, ctx, token, kDomainKgwGreen), threshold);
}

// One row's bias parameters, resolved from the per-row (stride 0 or 1) arguments.
struct KgwRowParams {
  Key128 key;
  uint32_t ctx;  // context hash of the row's last `width` ids
  uint32_t threshold;
  float delta;
  bool active;  // enabled and with a full context
};

template <typename IdT>
TM_HD KgwRowParams kgw_row_params(const KgwBiasArgs& a, int64_t row) {
  KgwRowParams p;
  const uint32_t* k = a.keys + row * a.key_stride;
  p.key = Key128{{k[0], k[1], k[2], k[3]}};
  p.threshold = a.thresholds[row * a.threshold_stride];
  p.delta = a.deltas[row * a.delta_stride];
  // A row whose ids are shorter than the context width has no context: left unbiased, as the
  // detector does not score such positions either.
  p.active = (a.enabled == nullptr || a.enabled[row] != 0) && a.ids_len >= a.width;
  p.ctx = 0;
  if (p.active && a.width > 0) {
    const IdT* ids =
        static_cast<const IdT*>(a.input_ids) + row * a.ids_row_stride + (a.ids_len - a.width);
    p.ctx = context_hash(ids, a.width, a.seeding);
  }
  return p;
}

}  // namespace tokenmark
