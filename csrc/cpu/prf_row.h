// Helpers of the row-wise samplers: reading one logit of any dtype, and the PRF words of 32
// consecutive token ids (eight Philox blocks; AVX2 where the CPU has it).
#pragma once

#include <cstdint>

#include "float16.h"
#include "tokenmark/prf.h"
#include "tokenmark/types.h"
#if defined(__x86_64__)
#include "simd_avx2.h"
#endif

namespace tokenmark::cpu {

constexpr int64_t kWordRun = 32;

inline float load_logit(const void* row, LogitsDtype dtype, int64_t i) {
  if (dtype == kFloat32) return static_cast<const float*>(row)[i];
  const uint16_t bits = static_cast<const uint16_t*>(row)[i];
  return dtype == kFloat16 ? half_to_float(bits) : bf16_to_float(bits);
}

// PRF words of token ids [c, c + 32) in `domain`, in token order; c is a multiple of 4.
inline void words32_scalar(const Key128& key, uint32_t ctx, int64_t c, uint32_t domain,
                           uint32_t out[kWordRun]) {
  for (int j = 0; j < kWordRun / 4; ++j) {
    const U32x4 w = prf_block(key, ctx, static_cast<uint32_t>((c >> 2) + j), domain);
    for (int r = 0; r < 4; ++r) out[4 * j + r] = w.v[r];
  }
}

#if defined(__x86_64__)
TM_AVX2 inline void words32_avx2(const Key128& key, uint32_t ctx, int64_t c, uint32_t domain,
                                 uint32_t out[kWordRun]) {
  using namespace avx2;
  const __m256i blocks = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(c >> 2)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const V4 w = philox8(blocks, _mm256_set1_epi32(static_cast<int>(ctx)),
                       _mm256_set1_epi32(static_cast<int>(key.k[2] ^ domain)),
                       _mm256_set1_epi32(static_cast<int>(key.k[3])), key.k[0], key.k[1]);
  // Lane i of w.c_r is the word of token c + 4 * i + r.
  alignas(32) uint32_t lanes[4][8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[0]), w.c0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[1]), w.c1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[2]), w.c2);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[3]), w.c3);
  for (int i = 0; i < 8; ++i) {
    for (int r = 0; r < 4; ++r) out[4 * i + r] = lanes[r][i];
  }
}
#endif

inline void words32(const Key128& key, uint32_t ctx, int64_t c, uint32_t domain, bool simd,
                    uint32_t out[kWordRun]) {
#if defined(__x86_64__)
  if (simd) return words32_avx2(key, ctx, c, domain, out);
#endif
  (void)simd;
  words32_scalar(key, ctx, c, domain, out);
}

// Context hashes (XOR `salt`) and PRF words in `domain` of the eight positions [i, i + 8) of a
// document's tokens; each position has `width` tokens of context before it.
inline void ctx_words8_scalar(const Key128& key, const int32_t* tokens, int64_t i, int width,
                              int seeding, uint32_t salt, uint32_t domain, uint32_t ctx[8],
                              uint32_t words[8]) {
  for (int j = 0; j < 8; ++j) {
    ctx[j] = context_hash(tokens + i + j - width, width, seeding) ^ salt;
    words[j] = prf_word(key, ctx[j], static_cast<uint32_t>(tokens[i + j]), domain);
  }
}

#if defined(__x86_64__)
TM_AVX2 inline void ctx_words8_avx2(const Key128& key, const int32_t* tokens, int64_t i, int width,
                                    int seeding, uint32_t salt, uint32_t domain, uint32_t ctx[8],
                                    uint32_t words[8]) {
  using namespace avx2;
  const __m256i c = _mm256_xor_si256(context_hash8(tokens + i - width, width, seeding),
                                     _mm256_set1_epi32(static_cast<int>(salt)));
  const __m256i tok = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tokens + i));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(ctx), c);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(words), prf_word8(key, c, tok, domain));
}
#endif

inline void ctx_words8(const Key128& key, const int32_t* tokens, int64_t i, int width, int seeding,
                       uint32_t salt, uint32_t domain, bool simd, uint32_t ctx[8],
                       uint32_t words[8]) {
#if defined(__x86_64__)
  if (simd) return ctx_words8_avx2(key, tokens, i, width, seeding, salt, domain, ctx, words);
#endif
  (void)simd;
  ctx_words8_scalar(key, tokens, i, width, seeding, salt, domain, ctx, words);
}

// Whether the context hash of the next position (after ids[0..len)) occurred at an earlier
// position j in [max(width, len - history), len).
template <typename IdT>
bool context_repeated(const IdT* ids, int64_t len, int width, int seeding, int64_t history) {
  const uint32_t now = context_hash(ids + len - width, width, seeding);
  const int64_t lo = len - history > width ? len - history : width;
  for (int64_t j = lo; j < len; ++j) {
    if (context_hash(ids + j - width, width, seeding) == now) return true;
  }
  return false;
}

}  // namespace tokenmark::cpu
