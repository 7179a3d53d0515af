// SGLang's detector per document: scoring starts after the prompt (prefix), or, with no prompt
// (prefix 0), after the first `width` tokens, whose contexts are unknown. From there on, the
// context is the up to `width` tokens before it (the prompt tail included), each distinct context
// (length and words) is scored once, and scoring stops after `max_contexts` of them. Per counted
// position the score of key A (and key B) is -log1p(-u); with two keys the coin of the context
// picks the partition.
//
// A document runs in two passes: the counted positions and their context hashes first (the
// dedup table is sequential), then the token hashes, coins and logs of eight counted positions
// at a time (AVX2 where the CPU has it), summed in position order as the one-pass rule would.
#include "sglang_score.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "context_set.h"
#include "cpu_features.h"
#include "simd_avx2.h"
#include "tokenmark/sglang.h"

namespace tokenmark::cpu {
namespace {

constexpr int kLanes = 8;

TM_AVX2 inline __m256i rotl8(__m256i x, int r) {
  return _mm256_or_si256(_mm256_slli_epi32(x, r), _mm256_srli_epi32(x, 32 - r));
}

// sglang_mix on eight lanes.
TM_AVX2 inline __m256i mix8(__m256i state, __m256i value) {
  value = _mm256_mullo_epi32(value, _mm256_set1_epi32(static_cast<int>(0xCC9E2D51u)));
  value = _mm256_mullo_epi32(rotl8(value, 15), _mm256_set1_epi32(static_cast<int>(0x1B873593u)));
  state = rotl8(_mm256_xor_si256(state, value), 13);
  return _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(state, 2), state),
                          _mm256_set1_epi32(static_cast<int>(0xE6546B64u)));
}

// sglang_fmix on eight lanes.
TM_AVX2 inline __m256i fmix8(__m256i h, uint32_t n_words) {
  return avx2::fmix32_8(_mm256_xor_si256(h, _mm256_set1_epi32(static_cast<int>(4u * n_words))));
}

// sglang_context_hash of every position in [start, len): from the first position with a full
// window on (p >= w), eight consecutive positions at a time with AVX2.
TM_AVX2 void context_hashes_avx2(const int32_t* doc, int64_t start, int64_t len, int w,
                                 uint32_t* out) {
  int64_t p = start;
  for (; p < len; ++p) {
    if (p >= w && p + kLanes <= len) {
      __m256i h = _mm256_setzero_si256();
      for (int i = 0; i < w; ++i) {
        h = mix8(h, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(doc + p - w + i)));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p - start), fmix8(h, w));
      p += kLanes - 1;
      continue;
    }
    const int64_t lo = std::max<int64_t>(0, p - w);
    out[p - start] = sglang_context_hash(static_cast<int>(p - lo),
                                         [&](int i) { return static_cast<uint32_t>(doc[lo + i]); });
  }
}

// -log1p(-u), u = (hash + 0.5) / 2^32, of eight hashes: 1 - u is exact in double, so this is
// log_pd4(1 - u) negated.
TM_AVX2 inline void neg_log1m8(__m256i hash, double* out) {
  const __m256i flip = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i signed_hash = _mm256_xor_si256(hash, flip);  // uint32 -> double via int32
  for (int h = 0; h < 2; ++h) {
    const __m128i half =
        h == 0 ? _mm256_castsi256_si128(signed_hash) : _mm256_extracti128_si256(signed_hash, 1);
    const __m256d x = _mm256_add_pd(_mm256_cvtepi32_pd(half), _mm256_set1_pd(2147483648.5));
    const __m256d one_minus_u = _mm256_fnmadd_pd(x, _mm256_set1_pd(0x1p-32), _mm256_set1_pd(1.0));
    _mm256_storeu_pd(out + 4 * h, _mm256_sub_pd(_mm256_setzero_pd(), avx2::log_pd4(one_minus_u)));
  }
}

// Per counted position i < n: the terms of key A (and key B) and, dual key, whether the coin
// picked key A. The mixes of the key words are the same for every position: done once.
TM_AVX2 void token_terms_avx2(const SglangScoreArgs& a, const uint32_t* ctx, const uint32_t* tok,
                              int64_t n, double* term_a, double* term_b, uint8_t* pick_a) {
  __m256i key_state[2], coin_state = _mm256_setzero_si256();
  for (int k = 0; k < a.n_keys; ++k) {
    const uint32_t s = sglang_mix(sglang_mix(0u, static_cast<uint32_t>(a.keys[k])),
                                  static_cast<uint32_t>(a.keys[k] >> 32));
    key_state[k] = _mm256_set1_epi32(static_cast<int>(s));
  }
  if (a.n_keys == 2) {
    uint32_t s = sglang_mix(0u, static_cast<uint32_t>(a.keys[0]));
    s = sglang_mix(s, static_cast<uint32_t>(a.keys[0] >> 32));
    s = sglang_mix(s, static_cast<uint32_t>(a.keys[1]));
    coin_state =
        _mm256_set1_epi32(static_cast<int>(sglang_mix(s, static_cast<uint32_t>(a.keys[1] >> 32))));
  }
  const __m256i flip = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i threshold =
      _mm256_xor_si256(_mm256_set1_epi32(static_cast<int>(a.threshold)), flip);
  for (int64_t b = 0; b < n; b += kLanes) {  // the buffers are padded to a multiple of kLanes
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ctx + b));
    const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tok + b));
    neg_log1m8(fmix8(mix8(mix8(key_state[0], h), t), 4), term_a + b);
    if (a.n_keys == 1) continue;
    neg_log1m8(fmix8(mix8(mix8(key_state[1], h), t), 4), term_b + b);
    const __m256i coin = _mm256_xor_si256(fmix8(mix8(coin_state, h), 5), flip);
    const int below = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(threshold, coin)));
    for (int i = 0; i < kLanes; ++i) pick_a[b + i] = (below >> i) & 1;
  }
}

void token_terms(const SglangScoreArgs& a, const uint32_t* ctx, const uint32_t* tok, int64_t n,
                 double* term_a, double* term_b, uint8_t* pick_a) {
  for (int64_t i = 0; i < n; ++i) {
    term_a[i] = sglang_score(sglang_token_hash(a.keys[0], ctx[i], tok[i]));
    if (a.n_keys == 1) continue;
    term_b[i] = sglang_score(sglang_token_hash(a.keys[1], ctx[i], tok[i]));
    pick_a[i] = sglang_coin(a.keys[0], a.keys[1], ctx[i]) < a.threshold;
  }
}

// Buffers of one thread, reused across its documents.
struct Scratch {
  std::vector<uint32_t> hash;  // [len - start] context hash of each position (AVX2 path)
  std::vector<uint32_t> ctx, tok;
  std::vector<double> term_a, term_b;
  std::vector<uint8_t> pick_a;
};

}  // namespace

void score_sglang(const SglangScoreArgs& a) {
  const bool simd = simd_enabled();
#pragma omp parallel
  {
    ContextSet seen;
    Scratch sc;
#pragma omp for schedule(dynamic, 8)
    for (int64_t d = 0; d < a.n_docs; ++d) {
      const int32_t* doc = a.tokens + a.offsets[d];
      const int64_t len = a.offsets[d + 1] - a.offsets[d];
      const int64_t w = a.width;
      const int64_t prompt = a.prefix ? std::min(a.prefix[d], len) : 0;
      const int64_t start = prompt > 0 ? prompt : std::min(w, len);
      seen.reset(std::min(len - start, a.max_contexts));
      sc.ctx.clear();
      sc.tok.clear();
      if (simd) {
        sc.hash.resize(std::max<int64_t>(len - start, 0));
        context_hashes_avx2(doc, start, len, static_cast<int>(w), sc.hash.data());
      }
      for (int64_t p = start; p < len && static_cast<int64_t>(sc.ctx.size()) < a.max_contexts;
           ++p) {
        const int64_t lo = std::max<int64_t>(0, p - w);
        const int ctx_len = static_cast<int>(p - lo);
        const uint32_t h = simd ? sc.hash[p - start] : sglang_context_hash(ctx_len, [&](int i) {
          return static_cast<uint32_t>(doc[lo + i]);
        });
        const bool fresh = seen.insert(h, p, [&](int64_t q) {
          const int64_t qlo = std::max<int64_t>(0, q - w);
          if (q - qlo != ctx_len) return false;
          return std::equal(doc + lo, doc + p, doc + qlo);
        });
        if (!fresh) continue;
        if (a.counted) a.counted[a.offsets[d] + p] = 1;
        sc.ctx.push_back(h);
        sc.tok.push_back(static_cast<uint32_t>(doc[p]));
      }
      const int64_t n = static_cast<int64_t>(sc.ctx.size());
      const int64_t padded = (n + kLanes - 1) / kLanes * kLanes;
      sc.ctx.resize(padded, 0u);
      sc.tok.resize(padded, 0u);
      sc.term_a.resize(padded);
      sc.term_b.resize(padded);
      sc.pick_a.resize(padded);
      if (simd) {
        token_terms_avx2(a, sc.ctx.data(), sc.tok.data(), n, sc.term_a.data(), sc.term_b.data(),
                         sc.pick_a.data());
      } else {
        token_terms(a, sc.ctx.data(), sc.tok.data(), n, sc.term_a.data(), sc.term_b.data(),
                    sc.pick_a.data());
      }
      int64_t n_a = 0;
      double s[5] = {0, 0, 0, 0, 0};
      for (int64_t i = 0; i < n; ++i) {
        const double sa = sc.term_a[i];
        s[1] += sa;
        if (a.n_keys == 1) {
          s[0] += sa;
          continue;
        }
        const double sb = sc.term_b[i];
        s[2] += sb;
        if (sc.pick_a[i]) {
          ++n_a;
          s[0] += sa;
          s[3] += sa;
        } else {
          s[0] += sb;
          s[4] += sb;
        }
      }
      a.n_scored[d] = n;
      a.n_key_a[d] = n_a;
      std::copy(s, s + 5, a.sums + 5 * d);
    }
  }
}

}  // namespace tokenmark::cpu
