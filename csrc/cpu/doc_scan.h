// The per-document scan of the CPU scorers that take whole documents per thread (score_gumbel,
// score_synthid): the scored positions of a document in token order, each (context hash, token)
// pair once with dedup, their context hashes and PRF words eight positions at a time (AVX2
// where the CPU has it).
#pragma once

#include <algorithm>
#include <cstdint>

#include "pair_set.h"
#include "prf_row.h"
#include "tokenmark/common_params.h"

namespace tokenmark::cpu {

// Calls on_counted(word) for every position of document d that enters its score, in token
// order, and marks it in a.counted; returns how many did. `salt` is XORed into each context
// hash before the PRF word in `domain` is drawn.
template <typename OnCounted>
int64_t scan_doc(const DocArgs& a, const Key128& key, int64_t d, uint32_t salt, uint32_t domain,
                 bool simd, PairSet& seen, OnCounted&& on_counted) {
  const int64_t s = scored_begin(a, d), hi = a.offsets[d + 1];
  if (a.dedup) seen.reset(hi - s);
  int64_t n = 0;
  uint32_t ctx[8], words[8];
  for (int64_t i = s; i < hi; i += 8) {
    // Hashes and words eight positions at a time; the tail (fewer than 8) one by one.
    const int m = static_cast<int>(std::min<int64_t>(8, hi - i));
    if (m == 8) {
      ctx_words8(key, a.tokens, i, a.width, a.seeding, salt, domain, simd, ctx, words);
    } else {
      for (int j = 0; j < m; ++j) {
        ctx[j] = context_hash(a.tokens + i + j - a.width, a.width, a.seeding) ^ salt;
        words[j] = prf_word(key, ctx[j], static_cast<uint32_t>(a.tokens[i + j]), domain);
      }
    }
    for (int j = 0; j < m; ++j) {
      if (a.dedup && !seen.insert(ctx[j], a.tokens[i + j])) continue;
      on_counted(words[j]);
      ++n;
      if (a.counted) a.counted[i + j] = 1;
      if (a.words) a.words[i + j] = words[j];
    }
  }
  return n;
}

// Runs score_doc(d, seen) for every document, whole documents per thread, each thread with its
// own PairSet; a.counted is zeroed first.
template <typename ScoreDoc>
void score_docs(const DocArgs& a, ScoreDoc&& score_doc) {
  if (a.counted) std::fill(a.counted, a.counted + a.n_tokens, 0);
  if (a.words) std::fill(a.words, a.words + a.n_tokens, 0u);
#pragma omp parallel if (a.n_tokens > 4096)
  {
    PairSet seen;
#pragma omp for schedule(dynamic, 16)
    for (int64_t d = 0; d < a.n_docs; ++d) score_doc(d, seen);
  }
}

}  // namespace tokenmark::cpu
