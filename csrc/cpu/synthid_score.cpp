// score_synthid on the CPU: per document, the counted tokens and per layer how many of their
// g-values are 1 (each (context hash, token) pair once with dedup). Threads take whole documents.
#include <algorithm>
#include <cstdint>

#include "pair_set.h"
#include "synthid_cpu.h"
#include "tokenmark/synthid.h"

namespace tokenmark::cpu {
namespace {

void score_doc(const SynthIdScoreArgs& a, const Key128& key, int64_t d, PairSet& seen) {
  const int64_t lo = a.offsets[d], hi = a.offsets[d + 1];
  const int64_t skip = std::max<int64_t>(a.width, a.prefix ? a.prefix[d] : 0);
  const int64_t s = std::min(hi, lo + skip);
  int64_t* ones = a.ones + d * a.layers;
  std::fill(ones, ones + a.layers, 0);
  if (a.dedup) seen.reset(hi - s);
  int64_t n = 0;
  for (int64_t i = s; i < hi; ++i) {
    const uint32_t ctx = context_hash(a.tokens + i - a.width, a.width, a.seeding);
    if (a.dedup && !seen.insert(ctx, a.tokens[i])) continue;
    const uint32_t word = synthid_g_word(key, ctx, static_cast<uint32_t>(a.tokens[i]));
    for (int l = 0; l < a.layers; ++l) ones[l] += synthid_g(word, l);
    ++n;
    if (a.counted) a.counted[i] = 1;
  }
  a.n_scored[d] = n;
}

}  // namespace

void score_synthid(const SynthIdScoreArgs& a) {
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
