// SynthID-Text (Dathathri et al., Nature 2024) on the tokenmark PRF: g-values and the 2-leaf
// tournament in closed form. Frozen like prf.h (docs/prf.md, "SynthID-Text").
#pragma once

#include <math.h>

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

// exp(y) for the softmax weights, y = logit - max <= 0, defined here (not by a math library) so
// that every backend, SIMD lane and numpy compute the same bits: Cody-Waite reduction
// y = k ln2 + r (k = rint(y / ln2), |r| <= ln2 / 2), the Taylor polynomial of degree 13 in
// Horner form (truncation error < 1e-17 relative), then an exact scaling by 2^k. Every step is
// one IEEE multiply or add (the build disables FMA contraction). Weights below e^-700 are 0.
constexpr double kExpCutoff = -700.0;
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 32 trailing zero bits: k * kLn2Hi exact
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kExpC2 = 0.5;
constexpr double kExpC3 = 0.16666666666666666;
constexpr double kExpC4 = 0.041666666666666664;
constexpr double kExpC5 = 0.008333333333333333;
constexpr double kExpC6 = 0.001388888888888889;
constexpr double kExpC7 = 0.0001984126984126984;
constexpr double kExpC8 = 2.48015873015873e-05;
constexpr double kExpC9 = 2.7557319223985893e-06;
constexpr double kExpC10 = 2.755731922398589e-07;
constexpr double kExpC11 = 2.505210838544172e-08;
constexpr double kExpC12 = 2.08767569878681e-09;
constexpr double kExpC13 = 1.6059043836821613e-10;

TM_HD double synthid_exp_poly(double r) {
  double p = kExpC13;
  p = p * r + kExpC12;
  p = p * r + kExpC11;
  p = p * r + kExpC10;
  p = p * r + kExpC9;
  p = p * r + kExpC8;
  p = p * r + kExpC7;
  p = p * r + kExpC6;
  p = p * r + kExpC5;
  p = p * r + kExpC4;
  p = p * r + kExpC3;
  p = p * r + kExpC2;
  p = p * r + 1.0;
  return p * r + 1.0;
}

TM_HD double synthid_exp(double y) {
  if (!(y >= kExpCutoff)) return 0.0;
  const double k = rint(y * kLog2e);
  const double r = (y - k * kLn2Hi) - k * kLn2Lo;
  return ldexp(synthid_exp_poly(r), static_cast<int>(k));
}

}  // namespace tokenmark
