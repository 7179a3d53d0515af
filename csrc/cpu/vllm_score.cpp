// vLLM's Gumbel detector per document: contexts of the `width` previous scored-part tokens (-1
// before the document's scored start), first occurrences of each context (exact: hash, then the
// words compared), score = sum over keys and counted positions of weight * -log1p(-u).
#include "vllm_score.h"

#include <cmath>

#include "context_set.h"
#include "tokenmark/vllm.h"

namespace tokenmark::cpu {

void score_vllm_gumbel(const VllmScoreArgs& a) {
#pragma omp parallel
  {
    ContextSet seen;
#pragma omp for schedule(dynamic, 8)
    for (int64_t d = 0; d < a.n_docs; ++d) {
      const int32_t* doc = a.tokens + a.offsets[d];
      const int64_t len = a.offsets[d + 1] - a.offsets[d];
      const int64_t start = a.starts[d];
      const int w = a.width;
      auto word = [&](int64_t p, int i) -> uint32_t {  // context word i of position p
        const int64_t q = p - w + i;
        return q >= start ? static_cast<uint32_t>(doc[q]) : 0xFFFFFFFFu;
      };
      if (a.dedup) seen.reset(len - start);
      int64_t n = 0;
      double score = 0.0;
      for (int64_t p = start; p < len; ++p) {
        bool count = true;
        if (a.dedup) {
          uint64_t h = 0x243F6A8885A308D3ull;
          for (int i = 0; i < w; ++i) h = (h ^ word(p, i)) * 0x100000001B3ull;
          count = seen.insert(h, p, [&](int64_t q) {
            for (int i = 0; i < w; ++i) {
              if (word(q, i) != word(p, i)) return false;
            }
            return true;
          });
        }
        if (a.counted) a.counted[a.offsets[d] + p] = count;
        if (!count) continue;
        ++n;
        for (int k = 0; k < a.n_keys; ++k) {
          const uint32_t k0 = static_cast<uint32_t>(a.keys[k]);
          const uint32_t k1 = static_cast<uint32_t>(a.keys[k] >> 32);
          const float u = vllm_uniform(vllm_word(
              k0, k1, w, [&](int i) { return word(p, i); }, static_cast<uint32_t>(doc[p])));
          score += a.weights[k] * -std::log1p(-static_cast<double>(u));
        }
      }
      a.n_scored[d] = n;
      a.score[d] = score;
    }
  }
}

}  // namespace tokenmark::cpu
