// AVX2 restatement of prf.h for eight lanes at once. CPU-only; every function is compiled for
// AVX2 by attribute and called only after a run-time CPU check (cpu_features.h), so the library
// still runs on machines without AVX2. Bit-exact with prf.h (tests compare every backend with the
// numpy reference).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "tokenmark/prf.h"

#define TM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace tokenmark::avx2 {

struct V4 {
  __m256i c0, c1, c2, c3;
};

// One Philox round on four blocks held in "64-bit lane" form: each 64-bit lane carries one
// 32-bit counter word in its low half (the high half is ignored garbage). _mm256_mul_epu32 reads
// exactly those low halves, so a round costs 2 multiplies, 2 shifts and 4 XORs, with no blends.
TM_AVX2 inline void philox_round_q(__m256i& c0, __m256i& c1, __m256i& c2, __m256i& c3, __m256i m0,
                                   __m256i m1, __m256i k0, __m256i k1) {
  const __m256i p0 = _mm256_mul_epu32(m0, c0);  // lo0 in the low half, hi0 in the high half
  const __m256i p1 = _mm256_mul_epu32(m1, c2);
  c0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1), k0);
  c1 = p1;
  c2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3), k1);
  c3 = p0;
}

TM_AVX2 inline __m256i merge_halves(__m256i even, __m256i odd) {
  return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

// Philox4x32-10 on eight blocks (lane i of c0..c3 is block i's counter). The even and odd lanes
// run as two interleaved independent chains, which hides the multiply latency.
TM_AVX2 inline V4 philox8(__m256i c0, __m256i c1, __m256i c2, __m256i c3, uint32_t k0,
                          uint32_t k1) {
  const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0);
  const __m256i m1 = _mm256_set1_epi64x(kPhiloxM1);
  __m256i e0 = c0, e1 = c1, e2 = c2, e3 = c3;
  __m256i o0 = _mm256_srli_epi64(c0, 32), o1 = _mm256_srli_epi64(c1, 32);
  __m256i o2 = _mm256_srli_epi64(c2, 32), o3 = _mm256_srli_epi64(c3, 32);
  for (int r = 0; r < kPhiloxRounds; ++r) {
    const __m256i vk0 = _mm256_set1_epi32(static_cast<int>(k0));
    const __m256i vk1 = _mm256_set1_epi32(static_cast<int>(k1));
    philox_round_q(e0, e1, e2, e3, m0, m1, vk0, vk1);
    philox_round_q(o0, o1, o2, o3, m0, m1, vk0, vk1);
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return V4{merge_halves(e0, o0), merge_halves(e1, o1), merge_halves(e2, o2), merge_halves(e3, o3)};
}

// philox8 with a key per lane (k0, k1 hold lane i's key words in their 32-bit lane i).
TM_AVX2 inline V4 philox8_keys(__m256i c0, __m256i c1, __m256i c2, __m256i c3, __m256i k0,
                               __m256i k1) {
  const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0);
  const __m256i m1 = _mm256_set1_epi64x(kPhiloxM1);
  const __m256i w0 = _mm256_set1_epi32(static_cast<int>(kPhiloxW0));
  const __m256i w1 = _mm256_set1_epi32(static_cast<int>(kPhiloxW1));
  __m256i e0 = c0, e1 = c1, e2 = c2, e3 = c3;
  __m256i o0 = _mm256_srli_epi64(c0, 32), o1 = _mm256_srli_epi64(c1, 32);
  __m256i o2 = _mm256_srli_epi64(c2, 32), o3 = _mm256_srli_epi64(c3, 32);
  __m256i ek0 = k0, ek1 = k1;  // even lanes: their keys sit in the low halves already
  __m256i ok0 = _mm256_srli_epi64(k0, 32), ok1 = _mm256_srli_epi64(k1, 32);
  for (int r = 0; r < kPhiloxRounds; ++r) {
    philox_round_q(e0, e1, e2, e3, m0, m1, ek0, ek1);
    philox_round_q(o0, o1, o2, o3, m0, m1, ok0, ok1);
    ek0 = _mm256_add_epi32(ek0, w0);  // the high halves carry garbage, never read
    ek1 = _mm256_add_epi32(ek1, w1);
    ok0 = _mm256_add_epi32(ok0, w0);
    ok1 = _mm256_add_epi32(ok1, w1);
  }
  return V4{merge_halves(e0, o0), merge_halves(e1, o1), merge_halves(e2, o2), merge_halves(e3, o3)};
}

TM_AVX2 inline __m256i fmix32_8(__m256i x) {
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(0x85EBCA6Bu)));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 13));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(0xC2B2AE35u)));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  return x;
}

// Context hashes of eight consecutive positions: window of position p + i starts at
// tokens[p + i - width]; `start` points at tokens[p - width].
TM_AVX2 inline __m256i context_hash8(const int32_t* start, int width, int seeding) {
  if (width <= 0) return _mm256_setzero_si256();
  if (seeding == kSeedingMinhash) {
    __m256i m = _mm256_set1_epi32(-1);
    const __m256i seed = _mm256_set1_epi32(static_cast<int>(kCtxSeedMin));
    for (int k = 0; k < width; ++k) {
      const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(start + k));
      m = _mm256_min_epu32(m, fmix32_8(_mm256_xor_si256(t, seed)));
    }
    return m;
  }
  __m256i s = _mm256_set1_epi32(static_cast<int>(kCtxSeedPrev));
  for (int k = 0; k < width; ++k) {
    const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(start + k));
    s = fmix32_8(_mm256_xor_si256(s, t));
  }
  return s;
}

// PRF words of eight (ctx, token) pairs in the given domain.
TM_AVX2 inline __m256i prf_word8(const Key128& key, __m256i ctx, __m256i tok, uint32_t domain) {
  const V4 w = philox8(_mm256_srli_epi32(tok, 2), ctx,
                       _mm256_set1_epi32(static_cast<int>(key.k[2] ^ domain)),
                       _mm256_set1_epi32(static_cast<int>(key.k[3])), key.k[0], key.k[1]);
  // Select word tok & 3: blendv picks by the sign bit, so move bit 0 and bit 1 there.
  const __m256 b0 = _mm256_castsi256_ps(_mm256_slli_epi32(tok, 31));
  const __m256 b1 = _mm256_castsi256_ps(_mm256_slli_epi32(tok, 30));
  const __m256 lo = _mm256_blendv_ps(_mm256_castsi256_ps(w.c0), _mm256_castsi256_ps(w.c1), b0);
  const __m256 hi = _mm256_blendv_ps(_mm256_castsi256_ps(w.c2), _mm256_castsi256_ps(w.c3), b0);
  return _mm256_castps_si256(_mm256_blendv_ps(lo, hi, b1));
}

// Unsigned a < b in each lane, as an all-ones mask.
TM_AVX2 inline __m256i lt_epu32(__m256i a, __m256i b) {
  const __m256i flip = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  return _mm256_cmpgt_epi32(_mm256_xor_si256(b, flip), _mm256_xor_si256(a, flip));
}

// Natural log of four doubles in [2^-1022, 2^1023] (normal, positive, finite; the callers pass
// 1 - u for a uniform u, which is exact in double): fdlibm's e_log.c method, x = 2^k (1 + f) with
// 1 + f in [sqrt(2)/2, sqrt(2)), log(1 + f) = f - hfsq + s (hfsq + R(s^2)), s = f / (2 + f).
// fdlibm bounds its error below 1 ulp; the tests compare it with numpy's log1p within 1e-15
// relative (4.5 ulp) on every uniform they score, and the detectors' sums within 1e-13.
TM_AVX2 inline __m256d log_pd4(__m256d x) {
  // Exponent relative to sqrt(2)/2: subtracting its bits moves the cut of k there.
  const __m256i off = _mm256_set1_epi64x(0x3fe6a09e00000000ll);
  const __m256i ix = _mm256_castpd_si256(x);
  const __m256i tmp = _mm256_sub_epi64(ix, off);
  // k + 1023 as the low bits of 2^52 + (k + 1023): exact int -> double without AVX-512.
  const __m256i kb = _mm256_add_epi64(_mm256_srli_epi64(tmp, 52), _mm256_set1_epi64x(1023));
  const __m256i kbits = _mm256_and_si256(kb, _mm256_set1_epi64x(0x7ff));
  const __m256d dk = _mm256_sub_pd(
      _mm256_castsi256_pd(_mm256_or_si256(kbits, _mm256_set1_epi64x(0x4330000000000000ll))),
      _mm256_set1_pd(4503599627370496.0 + 1023.0));
  const __m256i mant = _mm256_sub_epi64(
      ix, _mm256_and_si256(tmp, _mm256_set1_epi64x(static_cast<int64_t>(0xfff0000000000000ull))));
  const __m256d f = _mm256_sub_pd(_mm256_castsi256_pd(mant), _mm256_set1_pd(1.0));
  const __m256d hfsq = _mm256_mul_pd(_mm256_set1_pd(0.5), _mm256_mul_pd(f, f));
  const __m256d s = _mm256_div_pd(f, _mm256_add_pd(_mm256_set1_pd(2.0), f));
  const __m256d z = _mm256_mul_pd(s, s);
  const __m256d w = _mm256_mul_pd(z, z);
  // fdlibm's Lg1..Lg7: the minimax polynomial of (log((1 + s) / (1 - s)) - 2 s) / s.
  const __m256d t1 =
      _mm256_mul_pd(w, _mm256_fmadd_pd(w,
                                       _mm256_fmadd_pd(w, _mm256_set1_pd(1.531383769920937332e-01),
                                                       _mm256_set1_pd(2.222219843214978396e-01)),
                                       _mm256_set1_pd(3.999999999940941908e-01)));
  const __m256d t2 = _mm256_mul_pd(
      z,
      _mm256_fmadd_pd(w,
                      _mm256_fmadd_pd(w,
                                      _mm256_fmadd_pd(w, _mm256_set1_pd(1.479819860511658591e-01),
                                                      _mm256_set1_pd(1.818357216161805012e-01)),
                                      _mm256_set1_pd(2.857142874366239149e-01)),
                      _mm256_set1_pd(6.666666666666735130e-01)));
  const __m256d r = _mm256_add_pd(t2, t1);
  const __m256d ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01);
  const __m256d ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10);
  // s (hfsq + R) + k ln2_lo - hfsq + f + k ln2_hi, summed smallest first as fdlibm does.
  __m256d out = _mm256_fmadd_pd(dk, ln2_lo, _mm256_mul_pd(s, _mm256_add_pd(hfsq, r)));
  out = _mm256_add_pd(_mm256_sub_pd(out, hfsq), f);
  return _mm256_fmadd_pd(dk, ln2_hi, out);
}

// The largest of eight floats (a NaN lane never wins over a number in the lane it meets: the
// callers' lanes hold no NaN, or NaN-free running maxima).
TM_AVX2 inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

}  // namespace tokenmark::avx2
