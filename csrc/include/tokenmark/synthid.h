// SynthID-Text (Dathathri et al., Nature 2024) on the tokenmark PRF: g-values and the 2-leaf
// tournament in closed form. Frozen like prf.h (docs/prf.md, "SynthID-Text").
#pragma once

#include "tokenmark/prf.h"

namespace tokenmark {

// At most 32 layers: the g-values of one token are the bits of one PRF word.
constexpr int kSynthIdMaxLayers = 32;

// Bit l of the word is g_l(ctx, token), layer 0 in the least significant bit. One PRF block
// gives the g-values of four neighbouring token ids for up to 32 layers.
TM_HD uint32_t synthid_g_word(const Key128& key, uint32_t ctx, uint32_t token) {
  return prf_word(key, ctx, token, kDomainSynthIdG);
}

TM_HD uint32_t synthid_g(uint32_t word, int layer) { return (word >> layer) & 1u; }

// The two factors of one tournament layer, given E = E_w[g_l]: a token's weight is multiplied
// by 1 - E when its g_l is 0 and by 2 - E when it is 1 (1 + g - E), which keeps the expected
// distribution over keys equal to the input one (the 2-leaf, non-distortionary tournament).
struct SynthIdFactors {
  double c[2];
};

TM_HD SynthIdFactors synthid_factors(double expected_g) {
  return SynthIdFactors{{1.0 - expected_g, 2.0 - expected_g}};
}

}  // namespace tokenmark
