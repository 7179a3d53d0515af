// K keys in one pass over ragged documents (KGW, Gumbel, SynthID). What does not depend on the
// key is done once per document: the context hashes, the scored positions and, with dedup, which
// (context hash, token) pairs are first occurrences. Those pairs are packed into a small buffer
// (a document's worth, in cache), and each key then only evaluates the PRF over it, eight pairs
// at a time (AVX2 where the CPU has it). Each key's results equal a single-key call's bit for
// bit: the same pairs in the same token order (the Gumbel sum included).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu_features.h"
#include "keys_cpu.h"
#include "layer_counter.h"
#include "pair_set.h"
#include "tokenmark/gumbel.h"
#include "tokenmark/kgw.h"
#include "tokenmark/prf.h"
#if defined(__x86_64__)
#include "simd_avx2.h"
#endif

namespace tokenmark::cpu {
namespace {

// The counted pairs of one document, padded with zeros to a multiple of 8.
struct Pairs {
  std::vector<uint32_t> ctx;  // context hash ^ salt
  std::vector<int32_t> tok;
  int64_t n = 0;
};

#if defined(__x86_64__)
TM_AVX2 void ctx8_avx2(const int32_t* tokens, int64_t i, int width, int seeding, uint32_t out[8]) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      avx2::context_hash8(tokens + i - width, width, seeding));
}
#endif

// Context hashes of positions [i, i + 8) (each with `width` tokens before it in `tokens`).
void ctx8(const int32_t* tokens, int64_t i, int width, int seeding, bool simd, uint32_t out[8]) {
#if defined(__x86_64__)
  if (simd) return ctx8_avx2(tokens, i, width, seeding, out);
#endif
  (void)simd;
  for (int j = 0; j < 8; ++j) out[j] = context_hash(tokens + i + j - width, width, seeding);
}

// Collects the counted (ctx ^ salt, token) pairs of document d in token order, marks them in
// a.counted and sets a.n_scored[d]; the same positions and order as scan_doc (doc_scan.h).
void collect(const DocArgs& a, int64_t d, uint32_t salt, bool simd, PairSet& seen, Pairs& p) {
  const int64_t s = scored_begin(a, d), hi = a.offsets[d + 1];
  const int64_t len = hi > s ? hi - s : 0;
  p.ctx.resize(static_cast<size_t>(len + 8));
  p.tok.resize(static_cast<size_t>(len + 8));
  if (a.dedup) seen.reset(len);
  int64_t n = 0;
  uint32_t ctx[8];
  for (int64_t i = s; i < hi; i += 8) {
    const int m = static_cast<int>(std::min<int64_t>(8, hi - i));
    if (m == 8) {
      ctx8(a.tokens, i, a.width, a.seeding, simd, ctx);
    } else {
      for (int j = 0; j < m; ++j)
        ctx[j] = context_hash(a.tokens + i + j - a.width, a.width, a.seeding);
    }
    for (int j = 0; j < m; ++j) {
      const uint32_t c = ctx[j] ^ salt;
      const int32_t t = a.tokens[i + j];
      if (a.dedup && !seen.insert(c, t)) continue;
      p.ctx[n] = c;
      p.tok[n] = t;
      ++n;
      if (a.counted) a.counted[i + j] = 1;
    }
  }
  for (int64_t j = n; j < n + 8; ++j) p.ctx[j] = 0, p.tok[j] = 0;  // the padding lanes
  p.n = n;
  a.n_scored[d] = n;
}

// Calls on_word(word) for each pair, in order, with the PRF word of `key` in `domain`. The
// loop lives inside the AVX2 function so that the key's broadcasts stay in registers and
// on_word is inlined into it.
#if defined(__x86_64__)
template <typename OnWord>
TM_AVX2 void for_words_avx2(const Pairs& p, const Key128& key, uint32_t domain, OnWord& on_word) {
  alignas(32) uint32_t words[8];
  for (int64_t i = 0; i < p.n; i += 8) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.ctx.data() + i));
    const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.tok.data() + i));
    _mm256_store_si256(reinterpret_cast<__m256i*>(words), avx2::prf_word8(key, c, t, domain));
    const int m = static_cast<int>(std::min<int64_t>(8, p.n - i));
    for (int j = 0; j < m; ++j) on_word(words[j]);
  }
}
#endif

template <typename OnWord>
void for_words(const Pairs& p, const Key128& key, uint32_t domain, bool simd, OnWord&& on_word) {
#if defined(__x86_64__)
  if (simd) return for_words_avx2(p, key, domain, on_word);
#endif
  (void)simd;
  for (int64_t i = 0; i < p.n; ++i)
    on_word(prf_word(key, p.ctx[i], static_cast<uint32_t>(p.tok[i]), domain));
}

Key128 key_of(const KeysScoreArgs& a, int64_t k) {
  const uint32_t* w = a.keys + 4 * k;
  return Key128{{w[0], w[1], w[2], w[3]}};
}

// Runs per_doc(d, pairs) for every document after collecting its pairs (threads take whole
// documents, each with its own PairSet and buffers; `salts` [n_docs or 1] XORed into each
// document's context hashes, or nullptr); a.counted is zeroed first.
template <typename PerDoc>
void scan_keys(const KeysScoreArgs& a, const uint32_t* salts, int64_t salt_stride,
               PerDoc&& per_doc) {
  if (a.counted) std::fill(a.counted, a.counted + a.n_tokens, 0);
  const bool simd = simd_enabled();
#pragma omp parallel if (a.n_tokens * (a.n_keys + 1) > 8192)  // the work: tokens x keys
  {
    PairSet seen;
    Pairs pairs;
#pragma omp for schedule(dynamic, 16)
    for (int64_t d = 0; d < a.n_docs; ++d) {
      collect(a, d, salts ? salts[d * salt_stride] : 0u, simd, seen, pairs);
      per_doc(d, pairs, simd);
    }
  }
}

}  // namespace

void score_kgw_keys(const KgwKeysScoreArgs& a) {
  scan_keys(a, nullptr, 0, [&](int64_t d, const Pairs& p, bool simd) {
    for (int64_t k = 0; k < a.n_keys; ++k) {
      int64_t greens = 0;
      for_words(p, key_of(a, k), kDomainKgwGreen, simd,
                [&](uint32_t w) { greens += kgw_is_green(w, a.threshold); });
      a.n_green[k * a.n_docs + d] = greens;
    }
  });
}

void score_gumbel_keys(const GumbelKeysScoreArgs& a) {
  scan_keys(a, a.salts, a.salt_stride, [&](int64_t d, const Pairs& p, bool simd) {
    for (int64_t k = 0; k < a.n_keys; ++k) {
      double total = 0.0;  // in token order, as score_gumbel sums
      for_words(p, key_of(a, k), kDomainGumbel, simd,
                [&](uint32_t w) { total += gumbel_score_term(w); });
      a.score[k * a.n_docs + d] = total;
    }
  });
}

void score_synthid_keys(const SynthIdKeysScoreArgs& a) {
  scan_keys(a, nullptr, 0, [&](int64_t d, const Pairs& p, bool simd) {
    for (int64_t k = 0; k < a.n_keys; ++k) {
      int64_t* ones = a.ones + (k * a.n_docs + d) * a.layers;
      std::fill(ones, ones + a.layers, 0);
      LayerCounter counter(ones, a.layers);
      for_words(p, key_of(a, k), kDomainSynthIdG, simd, [&](uint32_t w) { counter.add(w); });
      counter.flush();
    }
  });
}

}  // namespace tokenmark::cpu
