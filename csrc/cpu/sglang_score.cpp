// SGLang's detector per document: scoring starts after the prompt (prefix), or, with no prompt
// (prefix 0), after the first `width` tokens, whose contexts are unknown. From there on, the
// context is the up to `width` tokens before it (the prompt tail included), each distinct context
// (length and words) is scored once, and scoring stops after `max_contexts` of them. Per counted
// position the score of key A (and key B) is -log1p(-u); with two keys the coin of the context
// picks the partition.
//
// A document runs in two passes: the counted positions and their context hashes first (the
// dedup table is sequential), then the token hashes, coins and logs of eight counted positions
// at a time (AVX2 where the CPU has it: their factors 1 - u multiplied in lanes, one log per 24
// of them; scalar: one log1p per position, summed in position order).
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

// sglang_mix splits into the word's own scrambling (two multiplies, independent of the state)
// and its absorption into the state: a token enters `width` contexts and its own token hash, so
// its scrambled word is computed once per token and absorbed each time.
constexpr uint32_t kMixC1 = 0xCC9E2D51u, kMixC2 = 0x1B873593u, kMixAdd = 0xE6546B64u;

inline uint32_t scrambled_word(uint32_t value) {
  value *= kMixC1;
  return ((value << 15) | (value >> 17)) * kMixC2;
}

TM_AVX2 inline __m256i scrambled_word8(__m256i value) {
  value = _mm256_mullo_epi32(value, _mm256_set1_epi32(static_cast<int>(kMixC1)));
  return _mm256_mullo_epi32(rotl8(value, 15), _mm256_set1_epi32(static_cast<int>(kMixC2)));
}

// sglang_mix(state, value) on eight lanes, given scrambled_word(value).
TM_AVX2 inline __m256i absorb8(__m256i state, __m256i word) {
  state = rotl8(_mm256_xor_si256(state, word), 13);
  return _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(state, 2), state),
                          _mm256_set1_epi32(static_cast<int>(kMixAdd)));
}

// sglang_mix on eight lanes.
TM_AVX2 inline __m256i mix8(__m256i state, __m256i value) {
  return absorb8(state, scrambled_word8(value));
}

// sglang_fmix on eight lanes.
TM_AVX2 inline __m256i fmix8(__m256i h, uint32_t n_words) {
  return avx2::fmix32_8(_mm256_xor_si256(h, _mm256_set1_epi32(static_cast<int>(4u * n_words))));
}

// scrambled_word of every token of the document ([len], eight at a time).
TM_AVX2 void scrambled_words_avx2(const int32_t* doc, int64_t len, uint32_t* words) {
  int64_t p = 0;
  for (; p + kLanes <= len; p += kLanes) {
    const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(doc + p));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(words + p), scrambled_word8(t));
  }
  for (; p < len; ++p) words[p] = scrambled_word(static_cast<uint32_t>(doc[p]));
}

// sglang_context_hash of every position in [start, len) from the tokens' scrambled words: from
// the first position with a full window on (p >= w), eight consecutive positions at a time.
TM_AVX2 void context_hashes_avx2(const int32_t* doc, const uint32_t* words, int64_t start,
                                 int64_t len, int w, uint32_t* out) {
  int64_t p = start;
  for (; p < len; ++p) {
    if (p >= w && p + kLanes <= len) {
      __m256i h = _mm256_setzero_si256();
      for (int i = 0; i < w; ++i) {
        h = absorb8(h, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + p - w + i)));
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

// 1 - u, u = (hash + 0.5) / 2^32, of eight hashes (lanes 0-3 in lo, 4-7 in hi): exact in double,
// in [2^-33, 1).
TM_AVX2 inline void one_minus_u8(__m256i hash, __m256d& lo, __m256d& hi) {
  const __m256i flip = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i signed_hash = _mm256_xor_si256(hash, flip);  // uint32 -> double via int32
  __m256d out[2];
  for (int h = 0; h < 2; ++h) {
    const __m128i half =
        h == 0 ? _mm256_castsi256_si128(signed_hash) : _mm256_extracti128_si256(signed_hash, 1);
    const __m256d x = _mm256_add_pd(_mm256_cvtepi32_pd(half), _mm256_set1_pd(2147483648.5));
    out[h] = _mm256_fnmadd_pd(x, _mm256_set1_pd(0x1p-32), _mm256_set1_pd(1.0));
  }
  lo = out[0];
  hi = out[1];
}

// The lanes of a group of eight counted positions starting at b that are below n, as two
// 64-bit masks (lanes 0-3, 4-7).
TM_AVX2 inline void lanes_below(int64_t b, int64_t n, __m256d& lo, __m256d& hi) {
  const __m256d left = _mm256_set1_pd(static_cast<double>(n - b));
  lo = _mm256_cmp_pd(_mm256_set_pd(3, 2, 1, 0), left, _CMP_LT_OQ);
  hi = _mm256_cmp_pd(_mm256_set_pd(7, 6, 5, 4), left, _CMP_LT_OQ);
}

TM_AVX2 inline double hsum4(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// Groups of eight positions whose factors 1 - u are multiplied before one log: 2 factors per lane
// per group, each >= 2^-33, so a lane's product stays >= 2^-792, a normal double.
constexpr int kGroupsPerLog = 12;

// sum[k] -= log(prod[k]) and prod[k] = 1, for k < n.
TM_AVX2 inline void take_logs(__m256d* prod, __m256d* sum, int n) {
  for (int k = 0; k < n; ++k) {
    sum[k] = _mm256_sub_pd(sum[k], avx2::log_pd4(prod[k]));
    prod[k] = _mm256_set1_pd(1.0);
  }
}

// The sums of the n counted positions (context hash ctx[i], scrambled_word of the token tok[i])
// into s[5] and the key-A count into n_a, eight positions at a time. A sum of -log(1 - u) is
// taken as -log of the product of the factors 1 - u, one log per lane for every 24 factors
// (the log was most of the per-token cost): the product's rounding (24 roundings, < 3e-15
// relative) moves the sum by less than 3e-15 per 24 terms, against the reference's pairwise sum
// of per-token logs (tests: 1e-13 relative; one scored token: the same single log).
// The mixes of the key words are the same for every position: done once. ctx and tok are padded
// to a multiple of kLanes; lanes at or past n get the factor 1.
TM_AVX2 void token_sums_avx2(const SglangScoreArgs& a, const uint32_t* ctx, const uint32_t* tok,
                             int64_t n, double* s, int64_t* n_a) {
  __m256i key_state[2], coin_state = _mm256_setzero_si256();
  for (int k = 0; k < a.n_keys; ++k) {
    const uint32_t st = sglang_mix(sglang_mix(0u, static_cast<uint32_t>(a.keys[k])),
                                   static_cast<uint32_t>(a.keys[k] >> 32));
    key_state[k] = _mm256_set1_epi32(static_cast<int>(st));
  }
  if (a.n_keys == 2) {
    uint32_t st = sglang_mix(0u, static_cast<uint32_t>(a.keys[0]));
    st = sglang_mix(st, static_cast<uint32_t>(a.keys[0] >> 32));
    st = sglang_mix(st, static_cast<uint32_t>(a.keys[1]));
    coin_state =
        _mm256_set1_epi32(static_cast<int>(sglang_mix(st, static_cast<uint32_t>(a.keys[1] >> 32))));
  }
  const __m256i flip = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i threshold =
      _mm256_xor_si256(_mm256_set1_epi32(static_cast<int>(a.threshold)), flip);
  const __m256d one = _mm256_set1_pd(1.0);
  // prod[k], sum[k]: the running products and the sums of -log of the finished ones of key A
  // all, key B all, A partition, B partition, combined (four lanes each)
  const int n_sums = a.n_keys == 1 ? 1 : 5;
  __m256d prod[5], sum[5];
  for (int k = 0; k < 5; ++k) {
    prod[k] = one;
    sum[k] = _mm256_setzero_pd();
  }
  int64_t picked = 0;
  int groups = 0;
  for (int64_t b = 0; b < n; b += kLanes) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ctx + b));
    const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tok + b));  // scrambled
    __m256d xa[2], xb[2], live[2];
    one_minus_u8(fmix8(absorb8(mix8(key_state[0], h), t), 4), xa[0], xa[1]);
    const bool last = b + kLanes > n;
    if (last) {
      lanes_below(b, n, live[0], live[1]);
      xa[0] = _mm256_blendv_pd(one, xa[0], live[0]);
      xa[1] = _mm256_blendv_pd(one, xa[1], live[1]);
    }
    prod[0] = _mm256_mul_pd(prod[0], _mm256_mul_pd(xa[0], xa[1]));
    if (a.n_keys == 2) {
      one_minus_u8(fmix8(absorb8(mix8(key_state[1], h), t), 4), xb[0], xb[1]);
      const __m256i coin = _mm256_xor_si256(fmix8(mix8(coin_state, h), 5), flip);
      const __m256i below = _mm256_cmpgt_epi32(threshold, coin);  // key A: all ones
      int bits = _mm256_movemask_ps(_mm256_castsi256_ps(below));
      if (last) {
        bits &= (1 << (n - b)) - 1;
        xb[0] = _mm256_blendv_pd(one, xb[0], live[0]);
        xb[1] = _mm256_blendv_pd(one, xb[1], live[1]);
      }
      picked += __builtin_popcount(static_cast<unsigned>(bits));
      prod[1] = _mm256_mul_pd(prod[1], _mm256_mul_pd(xb[0], xb[1]));
      for (int j = 0; j < 2; ++j) {
        const __m256d pick = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(
            j == 0 ? _mm256_castsi256_si128(below) : _mm256_extracti128_si256(below, 1)));
        prod[2] = _mm256_mul_pd(prod[2], _mm256_blendv_pd(one, xa[j], pick));
        prod[3] = _mm256_mul_pd(prod[3], _mm256_blendv_pd(xb[j], one, pick));
        prod[4] = _mm256_mul_pd(prod[4], _mm256_blendv_pd(xb[j], xa[j], pick));
      }
    }
    if (++groups == kGroupsPerLog) {
      take_logs(prod, sum, n_sums);
      groups = 0;
    }
  }
  if (groups > 0) take_logs(prod, sum, n_sums);
  s[1] = hsum4(sum[0]);
  if (a.n_keys == 1) {
    s[0] = s[1];
    *n_a = 0;
    return;
  }
  s[2] = hsum4(sum[1]);
  s[3] = hsum4(sum[2]);
  s[4] = hsum4(sum[3]);
  s[0] = hsum4(sum[4]);
  *n_a = picked;
}

// The same sums, one position at a time (the path without AVX2).
void token_sums(const SglangScoreArgs& a, const uint32_t* ctx, const uint32_t* tok, int64_t n,
                double* s, int64_t* n_a) {
  int64_t picked = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double sa = sglang_score(sglang_token_hash(a.keys[0], ctx[i], tok[i]));
    s[1] += sa;
    if (a.n_keys == 1) {
      s[0] += sa;
      continue;
    }
    const double sb = sglang_score(sglang_token_hash(a.keys[1], ctx[i], tok[i]));
    s[2] += sb;
    if (sglang_coin(a.keys[0], a.keys[1], ctx[i]) < a.threshold) {
      ++picked;
      s[0] += sa;
      s[3] += sa;
    } else {
      s[0] += sb;
      s[4] += sb;
    }
  }
  *n_a = picked;
}

// Buffers of one thread, reused across its documents.
struct Scratch {
  std::vector<uint32_t> words;     // [len] scrambled_word of each token (AVX2 path)
  std::vector<uint32_t> hash;      // [len - start] context hash of each position
  std::vector<uint32_t> ctx, tok;  // [len - start, padded to kLanes] of the counted positions:
                                   // context hash, token (AVX2 path: its scrambled_word)
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
      const int64_t room = std::max<int64_t>(len - start, 0);
      seen.reset(std::min(room, a.max_contexts));
      sc.hash.resize(room);
      if (simd) {
        sc.words.resize(len);
        scrambled_words_avx2(doc, len, sc.words.data());
        context_hashes_avx2(doc, sc.words.data(), start, len, static_cast<int>(w), sc.hash.data());
      } else {
        for (int64_t p = start; p < len; ++p) {
          const int64_t lo = std::max<int64_t>(0, p - w);
          sc.hash[p - start] = sglang_context_hash(
              static_cast<int>(p - lo), [&](int i) { return static_cast<uint32_t>(doc[lo + i]); });
        }
      }
      const int64_t padded = (room + kLanes - 1) / kLanes * kLanes;
      if (static_cast<int64_t>(sc.ctx.size()) < padded) {
        sc.ctx.resize(padded);
        sc.tok.resize(padded);
      }
      // Every position is written at slot n, which advances only for a fresh context: no
      // branch on the outcome (n <= p - start < room, so the slot is always in the buffers).
      // Raw pointers: the byte stores to `counted` may alias anything, vectors' fields included.
      const uint32_t* hash = sc.hash.data();
      const uint32_t* token_word = simd ? sc.words.data() : reinterpret_cast<const uint32_t*>(doc);
      uint32_t* ctx = sc.ctx.data();
      uint32_t* tok = sc.tok.data();
      uint8_t* counted = a.counted ? a.counted + a.offsets[d] : nullptr;
      const int64_t limit = a.max_contexts;
      int64_t n = 0;
      for (int64_t p = start; p < len && n < limit; ++p) {
        const uint32_t h = hash[p - start];
        const bool fresh = seen.insert(h, p, [&](int64_t q) {
          const int64_t lo = std::max<int64_t>(0, p - w), qlo = std::max<int64_t>(0, q - w);
          if (q - qlo != p - lo) return false;
          return std::equal(doc + lo, doc + p, doc + qlo);
        });
        ctx[n] = h;
        tok[n] = token_word[p];
        if (counted) counted[p] = fresh;
        n += fresh;
      }
      std::fill(sc.ctx.begin() + n, sc.ctx.begin() + padded, 0u);  // defined padding lanes
      std::fill(sc.tok.begin() + n, sc.tok.begin() + padded, 0u);
      double s[5] = {0, 0, 0, 0, 0};
      int64_t n_a = 0;
      if (simd) {
        token_sums_avx2(a, sc.ctx.data(), sc.tok.data(), n, s, &n_a);
      } else {
        token_sums(a, sc.ctx.data(), sc.tok.data(), n, s, &n_a);
      }
      a.n_scored[d] = n;
      a.n_key_a[d] = n_a;
      std::copy(s, s + 5, a.sums + 5 * d);
    }
  }
}

}  // namespace tokenmark::cpu
