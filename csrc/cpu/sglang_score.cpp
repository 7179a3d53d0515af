// SGLang's detector per document: scoring starts after the prompt (prefix), or, with no prompt
// (prefix 0), after the first `width` tokens, whose contexts are unknown. From there on, the
// context is the up to `width` tokens before it (the prompt tail included), each distinct context
// (length and words) is scored once, and scoring stops after `max_contexts` of them. Per counted
// position the score of key A (and key B) is -log1p(-u); with two keys the coin of the context
// picks the partition.
#include "sglang_score.h"

#include <algorithm>

#include "context_set.h"
#include "tokenmark/sglang.h"

namespace tokenmark::cpu {

void score_sglang(const SglangScoreArgs& a) {
#pragma omp parallel
  {
    ContextSet seen;
#pragma omp for schedule(dynamic, 8)
    for (int64_t d = 0; d < a.n_docs; ++d) {
      const int32_t* doc = a.tokens + a.offsets[d];
      const int64_t len = a.offsets[d + 1] - a.offsets[d];
      const int64_t w = a.width;
      const int64_t prompt = a.prefix ? std::min(a.prefix[d], len) : 0;
      const int64_t start = prompt > 0 ? prompt : std::min(w, len);
      seen.reset(std::min(len - start, a.max_contexts));
      int64_t n = 0, n_a = 0;
      double s[5] = {0, 0, 0, 0, 0};
      for (int64_t p = start; p < len && n < a.max_contexts; ++p) {
        const int64_t lo = std::max<int64_t>(0, p - w);
        const int ctx_len = static_cast<int>(p - lo);
        const uint32_t h =
            sglang_context_hash(ctx_len, [&](int i) { return static_cast<uint32_t>(doc[lo + i]); });
        const bool fresh = seen.insert(h, p, [&](int64_t q) {
          const int64_t qlo = std::max<int64_t>(0, q - w);
          if (q - qlo != ctx_len) return false;
          return std::equal(doc + lo, doc + p, doc + qlo);
        });
        if (!fresh) continue;
        if (a.counted) a.counted[a.offsets[d] + p] = 1;
        ++n;
        const uint32_t t = static_cast<uint32_t>(doc[p]);
        const double sa = sglang_score(sglang_token_hash(a.keys[0], h, t));
        s[1] += sa;
        if (a.n_keys == 1) {
          s[0] += sa;
          continue;
        }
        const double sb = sglang_score(sglang_token_hash(a.keys[1], h, t));
        s[2] += sb;
        if (sglang_coin(a.keys[0], a.keys[1], h) < a.threshold) {
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
