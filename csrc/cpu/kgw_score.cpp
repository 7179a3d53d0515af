// score_kgw on the CPU. Pass 1 runs over fixed token chunks on all threads (so one long document
// uses both cores) and computes each position's context hash and green flag, eight positions per
// AVX2 step. Pass 2, only with dedup, walks each document once with a PairSet of (context hash,
// token) pairs: the PRF input, so a pair seen twice is the same coin seen twice.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "cpu_features.h"
#include "kgw_cpu.h"
#include "pair_set.h"
#include "tokenmark/kgw.h"
#if defined(__x86_64__)
#include "simd_avx2.h"
#endif

namespace tokenmark::cpu {
namespace {

constexpr int64_t kChunk = 1 << 16;

// Green flags (and context hashes, when `ctx_out`) of positions [s, e), all with full context
// inside their document. Returns the number of green positions.
int64_t green_range_scalar(const KgwScoreArgs& a, const Key128& key, int64_t s, int64_t e,
                           int8_t* flags, uint32_t* ctx_out) {
  int64_t greens = 0;
  for (int64_t i = s; i < e; ++i) {
    const uint32_t ctx = context_hash(a.tokens + i - a.width, a.width, a.seeding);
    const bool g = kgw_token_green(key, ctx, static_cast<uint32_t>(a.tokens[i]), a.threshold);
    greens += g;
    if (flags) flags[i] = g ? 1 : 0;
    if (ctx_out) ctx_out[i] = ctx;
  }
  return greens;
}

#if defined(__x86_64__)
using namespace avx2;

TM_AVX2 int64_t green_range_avx2(const KgwScoreArgs& a, const Key128& key, int64_t s, int64_t e,
                                 int8_t* flags, uint32_t* ctx_out) {
  int64_t greens = 0;
  const __m256i thr = _mm256_set1_epi32(static_cast<int>(a.threshold));
  int64_t i = s;
  for (; i + 8 <= e; i += 8) {
    const __m256i ctx = context_hash8(a.tokens + i - a.width, a.width, a.seeding);
    const __m256i tok = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.tokens + i));
    const __m256i g = lt_epu32(prf_word8(key, ctx, tok, kDomainKgwGreen), thr);
    const unsigned bits = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(g)));
    greens += __builtin_popcount(bits);
    if (flags) {
      for (int j = 0; j < 8; ++j) flags[i + j] = static_cast<int8_t>((bits >> j) & 1u);
    }
    if (ctx_out) _mm256_storeu_si256(reinterpret_cast<__m256i*>(ctx_out + i), ctx);
  }
  return greens + green_range_scalar(a, key, i, e, flags, ctx_out);
}
#endif

int64_t green_range(const KgwScoreArgs& a, const Key128& key, int64_t s, int64_t e, int8_t* flags,
                    uint32_t* ctx_out) {
#if defined(__x86_64__)
  if (simd_enabled()) return green_range_avx2(a, key, s, e, flags, ctx_out);
#endif
  return green_range_scalar(a, key, s, e, flags, ctx_out);
}

// Pass 1 over tokens [c0, c1).
void pass1_chunk(const KgwScoreArgs& a, const Key128& key, int64_t c0, int64_t c1, int8_t* flags,
                 uint32_t* ctx_out, bool count_greens) {
  // The document holding c0: the last d with offsets[d] <= c0 (empty documents skipped).
  int64_t d = std::upper_bound(a.offsets, a.offsets + a.n_docs + 1, c0) - a.offsets - 1;
  for (int64_t pos = c0; pos < c1; ++d) {
    const int64_t doc_end = a.offsets[d + 1];
    if (doc_end <= pos) continue;
    const int64_t seg_end = std::min(c1, doc_end);
    const int64_t s = std::max(pos, scored_begin(a, d));
    if (flags) {
      for (int64_t i = pos; i < std::min(s, seg_end); ++i) flags[i] = -1;
    }
    if (s < seg_end) {
      const int64_t greens = green_range(a, key, s, seg_end, flags, ctx_out);
      if (count_greens) {
#pragma omp atomic
        a.n_green[d] += greens;
      }
    }
    pos = seg_end;
  }
}

// Pass 2 for one document: count first occurrences of (context hash, token).
void dedup_doc(const KgwScoreArgs& a, int64_t d, const int8_t* flags, const uint32_t* ctx,
               PairSet& seen) {
  const int64_t s = scored_begin(a, d), e = a.offsets[d + 1];
  if (s >= e) return;
  seen.reset(e - s);
  int64_t scored = 0, greens = 0;
  for (int64_t i = s; i < e; ++i) {
    if (!seen.insert(ctx[i], a.tokens[i])) continue;
    ++scored;
    greens += flags[i];
    if (a.counted) a.counted[i] = 1;
  }
  a.n_scored[d] = scored;
  a.n_green[d] = greens;
}

}  // namespace

void score_kgw(const KgwScoreArgs& a) {
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  std::fill(a.n_green, a.n_green + a.n_docs, 0);
  std::fill(a.n_scored, a.n_scored + a.n_docs, 0);
  if (a.counted) std::fill(a.counted, a.counted + a.n_tokens, 0);
  // Dedup needs every position's flag and context hash; keep them in scratch when the caller
  // did not ask for flags.
  std::unique_ptr<int8_t[]> flag_scratch;
  std::unique_ptr<uint32_t[]> ctx_scratch;
  int8_t* flags = a.green;
  if (a.dedup) {
    if (!flags) {
      flag_scratch.reset(new int8_t[static_cast<size_t>(a.n_tokens)]);
      flags = flag_scratch.get();
    }
    ctx_scratch.reset(new uint32_t[static_cast<size_t>(a.n_tokens)]);
  }
  const int64_t n_chunks = (a.n_tokens + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(dynamic, 1) if (n_chunks > 1)
  for (int64_t c = 0; c < n_chunks; ++c) {
    pass1_chunk(a, key, c * kChunk, std::min(a.n_tokens, (c + 1) * kChunk), flags,
                ctx_scratch.get(), !a.dedup);
  }
  if (!a.dedup) {
    for (int64_t d = 0; d < a.n_docs; ++d) {
      const int64_t s = scored_begin(a, d), e = a.offsets[d + 1];
      a.n_scored[d] = e - s;
      if (a.counted) std::fill(a.counted + s, a.counted + e, 1);
    }
    return;
  }
#pragma omp parallel
  {
    PairSet seen;
#pragma omp for schedule(dynamic, 16)
    for (int64_t d = 0; d < a.n_docs; ++d) dedup_doc(a, d, flags, ctx_scratch.get(), seen);
  }
}

}  // namespace tokenmark::cpu
