// score_gumbel on the CPU: per document, the sum of -log(1 - u) over its scored tokens, each
// (context hash, token) pair counted once with dedup. Documents are independent, so threads take
// whole documents; context hashes and PRF words come eight positions at a time (AVX2 where the
// CPU has it), and the sum runs in token order (float64), as in the numpy reference.
#include <algorithm>
#include <cstdint>

#include "cpu_features.h"
#include "gumbel_cpu.h"
#include "pair_set.h"
#include "prf_row.h"
#include "tokenmark/gumbel.h"

namespace tokenmark::cpu {
namespace {

void score_doc(const GumbelScoreArgs& a, const Key128& key, int64_t d, bool simd, PairSet& seen) {
  const int64_t s = scored_begin(a, d), hi = a.offsets[d + 1];
  const uint32_t salt = a.salts[d * a.salt_stride];
  if (a.dedup) seen.reset(hi - s);
  int64_t n = 0;
  double total = 0.0;
  uint32_t ctx[8], words[8];
  for (int64_t i = s; i < hi; i += 8) {
    // Hashes and words eight positions at a time; the tail (fewer than 8) one by one.
    const int m = static_cast<int>(std::min<int64_t>(8, hi - i));
    if (m == 8) {
      ctx_words8(key, a.tokens, i, a.width, a.seeding, salt, kDomainGumbel, simd, ctx, words);
    } else {
      for (int j = 0; j < m; ++j) {
        ctx[j] = context_hash(a.tokens + i + j - a.width, a.width, a.seeding) ^ salt;
        words[j] = prf_word(key, ctx[j], static_cast<uint32_t>(a.tokens[i + j]), kDomainGumbel);
      }
    }
    for (int j = 0; j < m; ++j) {
      if (a.dedup && !seen.insert(ctx[j], a.tokens[i + j])) continue;
      total += gumbel_score_term(words[j]);
      ++n;
      if (a.counted) a.counted[i + j] = 1;
    }
  }
  a.n_scored[d] = n;
  a.score[d] = total;
}

}  // namespace

void score_gumbel(const GumbelScoreArgs& a) {
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  const bool simd = simd_enabled();
  if (a.counted) std::fill(a.counted, a.counted + a.n_tokens, 0);
#pragma omp parallel if (a.n_tokens > 4096)
  {
    PairSet seen;
#pragma omp for schedule(dynamic, 16)
    for (int64_t d = 0; d < a.n_docs; ++d) score_doc(a, key, d, simd, seen);
  }
}

}  // namespace tokenmark::cpu
