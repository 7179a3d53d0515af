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

}  // namespace tokenmark::avx2
