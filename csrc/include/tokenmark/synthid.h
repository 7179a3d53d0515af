// SynthID-Text (Dathathri et al., Nature 2024) on the tokenmark PRF: g-values and the 2-leaf
// tournament in closed form. Frozen like prf.h (docs/prf.md, "SynthID-Text").
#pragma once

#include <math.h>
#include <string.h>

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

// Sampling numerics that every backend reproduces bit for bit, whatever its summation order
// (docs/prf.md, "Sampling"): weights are summed as uint64 fixed-point values, exactly, and the
// layers run in phases of up to kSynthIdPhaseBits layers whose factors come from a histogram of
// 2^kSynthIdPhaseBits bins.
constexpr int kSynthIdPhaseBits = 10;
constexpr int kSynthIdBins = 1 << kSynthIdPhaseBits;

// The fixed-point scale of a row of n >= 1 candidates is 2^shift, shift = 62 - bitlen(n): each
// weight is at most the row's total, about n < 2^bitlen(n), so the row sums below 2^63.
TM_HD int synthid_fixed_shift(int64_t n) {
  int bits = 0;
  while (bits < 63 && (n >> bits) != 0) ++bits;
  return 62 - bits;
}

// floor(w * scale) for w >= 0 and scale = 2^shift (the product is exact).
TM_HD uint64_t synthid_fixed(double w, double scale) { return static_cast<uint64_t>(w * scale); }

// E = S1 / (S0 + S1), the weight share of g = 1; 0 for an empty histogram (a row never has one:
// its largest weight alone is 2^shift).
TM_HD double synthid_expected(double s0, double s1) {
  const double total = s0 + s1;
  return total > 0.0 ? s1 / total : 0.0;
}

// The draw's target floor(total * floor(r * 2^53) / 2^53) < total, for r in [0, 1): the token is
// the first candidate whose fixed-point running sum exceeds it.
TM_HD uint64_t synthid_draw_target(uint64_t total, double r) {
  const uint64_t u = static_cast<uint64_t>(r * 9007199254740992.0);  // r * 2^53, exact
#if defined(__CUDA_ARCH__)
  const uint64_t hi = __umul64hi(total, u), lo = total * u;
#else
  const unsigned __int128 p = static_cast<unsigned __int128>(total) * u;
  const uint64_t hi = static_cast<uint64_t>(p >> 64), lo = static_cast<uint64_t>(p);
#endif
  return (hi << 11) | (lo >> 53);
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

// The spec's softmax weight of a candidate logit x given the row's largest logit m: 1 where
// x == m, 0 for -inf and NaN, else synthid_exp(x - m).
TM_HD double synthid_base_weight(float x, double m) {
  const double xd = x;
  return !(xd > -INFINITY) ? 0.0 : xd == m ? 1.0 : synthid_exp(xd - m);
}

// 2^k for -1022 <= k <= 1023, from its exponent bits.
TM_HD double synthid_pow2(int k) {
  const uint64_t bits = static_cast<uint64_t>(k + 1023) << 52;
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(bits));
#else
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
#endif
}

// synthid_base_weight of four candidates, bit for bit, written for a GPU thread: no branch
// between the four, so that their exp polynomials (each a chain of 26 dependent IEEE operations)
// can run side by side, and 2^k from its bits where synthid_exp calls ldexp (the same value:
// k >= -1010 wherever the weight is kept, so p * 2^k is a normal number, exact). A lane whose
// weight is 0 or 1 runs the polynomial on 0 and drops it.
TM_HD void synthid_base_weights4(const float (&x)[4], double m, double (&w)[4]) {
  double r[4], k[4], p[4];
  bool live[4], top[4];
  for (int i = 0; i < 4; ++i) {
    const double xd = x[i];
    const double y = xd - m;
    top[i] = xd == m;
    live[i] = xd > -INFINITY && !top[i] && y >= kExpCutoff;
    const double ys = live[i] ? y : 0.0;
    k[i] = rint(ys * kLog2e);
    r[i] = (ys - k[i] * kLn2Hi) - k[i] * kLn2Lo;
  }
  for (int i = 0; i < 4; ++i) p[i] = synthid_exp_poly(r[i]);
  for (int i = 0; i < 4; ++i) {
    const double e = p[i] * synthid_pow2(static_cast<int>(k[i]));
    w[i] = top[i] ? 1.0 : live[i] ? e : 0.0;
  }
}

}  // namespace tokenmark
