// score_gumbel on the CPU: per document, the sum of -log(1 - u) over its scored tokens, each
// (context hash, token) pair counted once with dedup. Documents are independent, so threads take
// whole documents; the sum runs in token order (float64), as in the numpy reference.
#include <algorithm>
#include <cstdint>

#include "gumbel_cpu.h"
#include "pair_set.h"
#include "tokenmark/gumbel.h"

namespace tokenmark::cpu {
namespace {

void score_doc(const GumbelScoreArgs& a, const Key128& key, int64_t d, PairSet& seen) {
  const int64_t lo = a.offsets[d], hi = a.offsets[d + 1];
  const int64_t skip = std::max<int64_t>(a.width, a.prefix ? a.prefix[d] : 0);
  const int64_t s = std::min(hi, lo + skip);
  const uint32_t salt = a.salts[d * a.salt_stride];
  if (a.dedup) seen.reset(hi - s);
  int64_t n = 0;
  double total = 0.0;
  for (int64_t i = s; i < hi; ++i) {
    const uint32_t ctx = context_hash(a.tokens + i - a.width, a.width, a.seeding) ^ salt;
    if (a.dedup && !seen.insert(ctx, a.tokens[i])) continue;
    total +=
        gumbel_score_term(prf_word(key, ctx, static_cast<uint32_t>(a.tokens[i]), kDomainGumbel));
    ++n;
    if (a.counted) a.counted[i] = 1;
  }
  a.n_scored[d] = n;
  a.score[d] = total;
}

}  // namespace

void score_gumbel(const GumbelScoreArgs& a) {
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  if (a.counted) std::fill(a.counted, a.counted + a.n_tokens, 0);
#pragma omp parallel if (a.n_tokens > 4096)
  {
    PairSet seen;
#pragma omp for schedule(dynamic, 16)
    for (int64_t d = 0; d < a.n_docs; ++d) score_doc(a, key, d, seen);
  }
}

}  // namespace tokenmark::cpu
