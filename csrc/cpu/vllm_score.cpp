// vLLM's Gumbel detector per document: contexts of the `width` previous scored-part tokens (-1
// before the document's scored start), first occurrences of each context (exact: hash, then the
// words compared), score = sum over keys and counted positions of weight * -log1p(-u).
#include "vllm_score.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "context_set.h"
#include "cpu_features.h"
#include "simd_avx2.h"
#include "tokenmark/vllm.h"

namespace tokenmark::cpu {
namespace {

// Positions scored together: their Philox chains are independent, so running them in lockstep
// hides the multiply latency that bounds one chain (and lets the compiler vectorise the lanes).
constexpr int kLanes = 8;
// Runs of kLanes positions whose Philox chains go side by side (2 and 4 measured the same).
constexpr int kRunGroups = 2;

// Philox4x32-10 (prf.h's rounds) on kLanes blocks at once, each with its own key.
inline void philox_lanes(uint32_t c[4][kLanes], uint32_t k0[kLanes], uint32_t k1[kLanes]) {
  for (int r = 0; r < kPhiloxRounds; ++r) {
    for (int i = 0; i < kLanes; ++i) {
      const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c[0][i];
      const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c[2][i];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c[1][i] ^ k0[i];
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c[3][i] ^ k1[i];
      c[1][i] = static_cast<uint32_t>(p1);
      c[3][i] = static_cast<uint32_t>(p0);
      c[0][i] = n0;
      c[2][i] = n2;
      k0[i] += kPhiloxW0;
      k1[i] += kPhiloxW1;
    }
  }
}

// vllm_word (tokenmark/vllm.h) of kLanes positions: `ctx(lane, i)` is context word i of a lane.
template <typename CtxFn>
inline void vllm_words(uint64_t key, int width, CtxFn ctx, const uint32_t* tokens,
                       uint32_t* words) {
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  uint32_t s[4][kLanes], kk0[kLanes], kk1[kLanes];
  for (int i = 0; i < kLanes; ++i) {
    s[0][i] = kVllmContextDomain;
    s[1][i] = static_cast<uint32_t>(width);
    s[2][i] = s[3][i] = 0u;
  }
  for (int offset = 0; offset < width; offset += 4) {
    for (int j = 0; j < 4; ++j) {
      for (int i = 0; i < kLanes; ++i) {
        s[j][i] ^= offset + j < width ? ctx(i, offset + j) : 0xFFFFFFFFu - j;
      }
    }
    for (int i = 0; i < kLanes; ++i) {
      kk0[i] = k0 ^ static_cast<uint32_t>(offset);
      kk1[i] = k1;
    }
    philox_lanes(s, kk0, kk1);
  }
  uint32_t c[4][kLanes];
  for (int i = 0; i < kLanes; ++i) {
    c[0][i] = tokens[i] >> 2;
    c[1][i] = s[0][i];
    c[2][i] = s[1][i];
    c[3][i] = s[2][i];
    kk0[i] = k0 ^ s[3][i];
    kk1[i] = k1 ^ kVllmTokenDomain;
  }
  philox_lanes(c, kk0, kk1);
  for (int i = 0; i < kLanes; ++i) words[i] = c[tokens[i] & 3][i];
}

// The token block of eight lanes: counter (tok >> 2, s0, s1, s2), key (k0 ^ s3, k1 ^ domain).
TM_AVX2 inline avx2::V4 token_block(uint64_t key, const __m256i* s, __m256i tok) {
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  return avx2::philox8_keys(_mm256_srli_epi32(tok, 2), s[0], s[1], s[2],
                            _mm256_xor_si256(s[3], _mm256_set1_epi32(static_cast<int>(k0))),
                            _mm256_set1_epi32(static_cast<int>(k1 ^ kVllmTokenDomain)));
}

// Word tok & 3 of each lane's block into words[8]: blendv picks by the sign bit, so bit 0 and
// bit 1 move there.
TM_AVX2 inline void store_token_words(const avx2::V4& o, __m256i tok, uint32_t* words) {
  const __m256 b0 = _mm256_castsi256_ps(_mm256_slli_epi32(tok, 31));
  const __m256 b1 = _mm256_castsi256_ps(_mm256_slli_epi32(tok, 30));
  const __m256 lo = _mm256_blendv_ps(_mm256_castsi256_ps(o.c0), _mm256_castsi256_ps(o.c1), b0);
  const __m256 hi = _mm256_blendv_ps(_mm256_castsi256_ps(o.c2), _mm256_castsi256_ps(o.c3), b0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(words),
                      _mm256_castps_si256(_mm256_blendv_ps(lo, hi, b1)));
}

// The same eight words with AVX2 (simd_avx2.h's Philox), for CPUs that have it. `run`, when not
// null, says the lanes are eight consecutive positions whose contexts lie inside the scored part,
// starting at run[0] (the first lane's oldest context word): context word j of the lanes is then
// one unaligned load, not eight scalar stores read back as a vector (a store-forwarding stall).
template <typename CtxFn>
TM_AVX2 void vllm_words_avx2(uint64_t key, int width, CtxFn ctx, const int32_t* run,
                             const uint32_t* tokens, uint32_t* words) {
  static_assert(kLanes == 8, "one AVX2 register of lanes");
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  __m256i s[4] = {_mm256_set1_epi32(static_cast<int>(kVllmContextDomain)), _mm256_set1_epi32(width),
                  _mm256_setzero_si256(), _mm256_setzero_si256()};
  for (int offset = 0; offset < width; offset += 4) {
    for (int j = 0; j < 4; ++j) {
      __m256i block;
      if (offset + j >= width) {
        block = _mm256_set1_epi32(static_cast<int>(0xFFFFFFFFu - j));
      } else if (run) {
        block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(run + offset + j));
      } else {
        alignas(32) uint32_t lanes[kLanes];
        for (int i = 0; i < kLanes; ++i) lanes[i] = ctx(i, offset + j);
        block = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
      }
      s[j] = _mm256_xor_si256(s[j], block);
    }
    const avx2::V4 o =
        avx2::philox8(s[0], s[1], s[2], s[3], k0 ^ static_cast<uint32_t>(offset), k1);
    s[0] = o.c0;
    s[1] = o.c1;
    s[2] = o.c2;
    s[3] = o.c3;
  }
  const __m256i tok = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tokens));
  store_token_words(token_block(key, s, tok), tok, words);
}

// G full runs of eight consecutive positions (runs[g] as `run` above): the same words as G
// vllm_words_avx2 calls, with the groups' Philox chains side by side in one function, so that
// the core overlaps one group's rounds with another's (one group's two blocks are a dependent
// chain).
template <int G>
TM_AVX2 void vllm_words_runs_avx2(uint64_t key, int width, const int32_t* const* runs,
                                  uint32_t (*words)[kLanes]) {
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  __m256i s[G][4];
  for (int g = 0; g < G; ++g) {
    s[g][0] = _mm256_set1_epi32(static_cast<int>(kVllmContextDomain));
    s[g][1] = _mm256_set1_epi32(width);
    s[g][2] = s[g][3] = _mm256_setzero_si256();
  }
  for (int offset = 0; offset < width; offset += 4) {
    const uint32_t kk0 = k0 ^ static_cast<uint32_t>(offset);
    for (int g = 0; g < G; ++g) {
      for (int j = 0; j < 4; ++j) {
        const __m256i block =
            offset + j < width
                ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(runs[g] + offset + j))
                : _mm256_set1_epi32(static_cast<int>(0xFFFFFFFFu - j));
        s[g][j] = _mm256_xor_si256(s[g][j], block);
      }
      const avx2::V4 o = avx2::philox8(s[g][0], s[g][1], s[g][2], s[g][3], kk0, k1);
      s[g][0] = o.c0, s[g][1] = o.c1, s[g][2] = o.c2, s[g][3] = o.c3;
    }
  }
  for (int g = 0; g < G; ++g) {
    const __m256i tok = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(runs[g] + width));
    store_token_words(token_block(key, s[g], tok), tok, words[g]);
  }
}

// Groups of eight positions whose factors 1 - u are multiplied before one log: 2 factors per
// lane per group, each >= 2^-24 (u <= 1 - 2^-24 in float32), so a lane's product stays >= 2^-576.
constexpr int kGroupsPerLog = 12;

// prod4 *= the factors 1 - u of vLLM's uniforms of eight words, lanes i >= live taking 1; u as
// vllm_uniform rounds it: (word >> 8) + 1 over 2^24 + 1 in double, to float32 (round to nearest,
// as the cast), back to double, where 1 - u is exact. The sum of -log1p(-u) over the positions is
// then -log of the product (taken every kGroupsPerLog groups by take_log_avx2), one log per 24
// terms instead of one per term: the product's rounding (< 3e-15 relative per 24 factors) moves
// the sum by less than 3e-15 per 24 terms.
TM_AVX2 void multiply_factors_avx2(const uint32_t* words, int live, double* prod4) {
  const __m256i w =
      _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(words)), 8);
  // Times the rounded 1 / (2^24 + 1) instead of their division: the float32 rounding is the
  // same for all 2^24 numerators (a quotient lies at least 2^-49 of its size, 8 double ulps, from
  // a float32 rounding midpoint; checked exhaustively in tests/dialects/test_dialect_simd_log.py).
  const __m256d one = _mm256_set1_pd(1.0), inv_den = _mm256_set1_pd(1.0 / 16777217.0);
  const __m256d left = _mm256_set1_pd(static_cast<double>(live));
  __m256d x[2];
  for (int h = 0; h < 2; ++h) {
    const __m128i half = h == 0 ? _mm256_castsi256_si128(w) : _mm256_extracti128_si256(w, 1);
    const __m256d q = _mm256_mul_pd(_mm256_add_pd(_mm256_cvtepi32_pd(half), one), inv_den);
    const __m256d u = _mm256_cvtps_pd(_mm256_cvtpd_ps(q));
    const __m256d lane = h == 0 ? _mm256_set_pd(3, 2, 1, 0) : _mm256_set_pd(7, 6, 5, 4);
    x[h] = _mm256_blendv_pd(one, _mm256_sub_pd(one, u), _mm256_cmp_pd(lane, left, _CMP_LT_OQ));
  }
  _mm256_storeu_pd(prod4, _mm256_mul_pd(_mm256_loadu_pd(prod4), _mm256_mul_pd(x[0], x[1])));
}

// sum4 -= log(prod4), prod4 = 1.
TM_AVX2 void take_log_avx2(double* prod4, double* sum4) {
  _mm256_storeu_pd(sum4,
                   _mm256_sub_pd(_mm256_loadu_pd(sum4), avx2::log_pd4(_mm256_loadu_pd(prod4))));
  _mm256_storeu_pd(prod4, _mm256_set1_pd(1.0));
}

// context_hashes from position p on (its context inside the scored part) with AVX2.
TM_AVX2 void context_hashes_avx2(const int32_t* doc, int64_t start, int64_t p, int64_t len, int w,
                                 uint32_t* out) {
  for (; p + kLanes <= len; p += kLanes) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p - start),
                        avx2::context_hash8(doc + p - w, w, kSeedingPrev));
  }
  for (; p < len; ++p) {
    uint32_t h = kCtxSeedPrev;
    for (int i = 0; i < w; ++i) h = fmix32(h ^ static_cast<uint32_t>(doc[p - w + i]));
    out[p - start] = h;
  }
}

// The dedup table's hash of each position's context (prf.h's "prev" chain over the context
// words, -1 before `start`): only a filter, equal contexts are decided by comparing the words.
// Positions whose contexts lie inside the scored part go eight at a time with AVX2.
void context_hashes(const int32_t* doc, int64_t start, int64_t len, int w, bool simd,
                    std::vector<uint32_t>& out) {
  out.resize(len - start);
  int64_t p = start;
  for (; p < len && (p - w < start || !simd); ++p) {
    uint32_t h = kCtxSeedPrev;
    for (int i = 0; i < w; ++i) {
      const int64_t q = p - w + i;
      h = fmix32(h ^ (q >= start ? static_cast<uint32_t>(doc[q]) : 0xFFFFFFFFu));
    }
    out[p - start] = h;
  }
  if (p < len) context_hashes_avx2(doc, start, p, len, w, out.data());
}

}  // namespace

void score_vllm_gumbel(const VllmScoreArgs& a) {
  const bool simd = simd_enabled();
#pragma omp parallel
  {
    ContextSet seen;
    std::vector<int64_t> counted_pos;
    std::vector<uint32_t> hashes;
#pragma omp for schedule(dynamic, 8)
    for (int64_t d = 0; d < a.n_docs; ++d) {
      const int32_t* doc = a.tokens + a.offsets[d];
      const int64_t len = a.offsets[d + 1] - a.offsets[d];
      const int64_t start = a.starts ? a.starts[d] : 0;
      const int w = a.width;
      auto word = [&](int64_t p, int i) -> uint32_t {  // context word i of position p
        const int64_t q = p - w + i;
        return q >= start ? static_cast<uint32_t>(doc[q]) : 0xFFFFFFFFu;
      };
      if (a.dedup) seen.reset(len - start);
      // Pass 1: the counted positions (first occurrences of their contexts), each written at
      // slot n, which advances only when it counts (no branch on the outcome), through raw
      // pointers (the byte stores to `counted` may alias anything, vectors' fields included).
      if (a.dedup) context_hashes(doc, start, len, w, simd, hashes);
      counted_pos.resize(std::max<int64_t>(len - start, 1));
      int64_t* slot = counted_pos.data();
      const uint32_t* hash = hashes.data();
      uint8_t* counted = a.counted ? a.counted + a.offsets[d] : nullptr;
      int64_t n = 0;
      for (int64_t p = start; p < len; ++p) {
        bool count = true;
        if (a.dedup) {
          count = seen.insert(hash[p - start], p, [&](int64_t q) {
            for (int i = 0; i < w; ++i) {
              if (word(q, i) != word(p, i)) return false;
            }
            return true;
          });
        }
        if (counted) counted[p] = count;
        slot[n] = p;
        n += count;
      }
      const int64_t* pos = slot;
      // Pass 2: their PRF on kLanes positions at a time; the score sums in position order
      // (AVX2: per key, -log of lane products of the factors 1 - u, see multiply_factors_avx2).
      double score = 0.0;
      double prod[2][4] = {{1, 1, 1, 1}, {1, 1, 1, 1}}, sums[2][4] = {};
      int groups = 0;
      // A full run of kLanes positions from slot b: consecutive, contexts inside the scored part
      // (only a full group: a partial one repeats its last position, which could fake the span).
      const auto is_run = [&](int64_t b) {
        return b + kLanes <= n && pos[b + kLanes - 1] - pos[b] == kLanes - 1 && pos[b] - w >= start;
      };
      // One group's factors into the keys' lane products (AVX2), a log every kGroupsPerLog.
      const auto add_group = [&](auto words_of_key, int live) {
        for (int k = 0; k < a.n_keys; ++k) multiply_factors_avx2(words_of_key(k), live, prod[k]);
        if (++groups == kGroupsPerLog) {
          for (int k = 0; k < a.n_keys; ++k) take_log_avx2(prod[k], sums[k]);
          groups = 0;
        }
      };
      for (int64_t b = 0; b < n; b += kLanes) {
        if (simd && is_run(b) && is_run(b + (kRunGroups - 1) * kLanes)) {  // runs side by side
          const int32_t* runs[kRunGroups];
          uint32_t words_g[2][kRunGroups][kLanes];  // [key][group][lane]
          for (int g = 0; g < kRunGroups; ++g) runs[g] = doc + pos[b + g * kLanes] - w;
          for (int k = 0; k < a.n_keys; ++k) {
            vllm_words_runs_avx2<kRunGroups>(a.keys[k], w, runs, words_g[k]);
          }
          for (int g = 0; g < kRunGroups; ++g) {  // as one-group steps: the same products
            add_group([&](int k) { return words_g[k][g]; }, kLanes);
          }
          b += (kRunGroups - 1) * kLanes;
          continue;
        }
        int64_t lane_pos[kLanes];
        uint32_t toks[kLanes], words[2][kLanes];
        for (int i = 0; i < kLanes; ++i) {
          lane_pos[i] = pos[std::min<int64_t>(b + i, n - 1)];  // past the end: a repeat, unused
          toks[i] = static_cast<uint32_t>(doc[lane_pos[i]]);
        }
        auto ctx = [&](int i, int j) { return word(lane_pos[i], j); };
        const int32_t* run = is_run(b) ? doc + lane_pos[0] - w : nullptr;
        for (int k = 0; k < a.n_keys; ++k) {
          if (simd) {
            // A run's tokens are read in place (no scalar stores read back as a vector).
            const uint32_t* lane_toks =
                run ? reinterpret_cast<const uint32_t*>(doc + lane_pos[0]) : toks;
            vllm_words_avx2(a.keys[k], w, ctx, run, lane_toks, words[k]);
          } else {
            vllm_words(a.keys[k], w, ctx, toks, words[k]);
          }
        }
        if (simd) {
          add_group([&](int k) { return words[k]; },
                    static_cast<int>(std::min<int64_t>(kLanes, n - b)));
          continue;
        }
        double terms[2][kLanes];
        for (int k = 0; k < a.n_keys; ++k) {
          for (int i = 0; i < kLanes; ++i) {
            terms[k][i] = -std::log1p(-static_cast<double>(vllm_uniform(words[k][i])));
          }
        }
        for (int i = 0; i < kLanes && b + i < n; ++i) {
          for (int k = 0; k < a.n_keys; ++k) score += a.weights[k] * terms[k][i];
        }
      }
      if (simd) {
        for (int k = 0; k < a.n_keys; ++k) {
          if (groups > 0) take_log_avx2(prod[k], sums[k]);
          score += a.weights[k] * ((sums[k][0] + sums[k][1]) + (sums[k][2] + sums[k][3]));
        }
      }
      a.n_scored[d] = n;
      a.score[d] = score;
    }
  }
}

}  // namespace tokenmark::cpu
