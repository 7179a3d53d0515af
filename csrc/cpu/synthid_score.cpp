// score_synthid on the CPU: per document, the counted tokens and per layer how many of their
// g-values are 1 (each (context hash, token) pair once with dedup). Threads take whole documents;
// context hashes and PRF words come eight positions at a time (AVX2 where the CPU has it).
#include <algorithm>
#include <cstdint>

#include "cpu_features.h"
#include "pair_set.h"
#include "prf_row.h"
#include "synthid_cpu.h"
#include "tokenmark/synthid.h"

namespace tokenmark::cpu {
namespace {

// Per-layer counts of g-values equal to 1, eight layers per add: kSpread[b] moves bit j of the
// byte b into byte j, so four table adds count the 32 bits of a word in 32 byte-wide counters,
// which are flushed into the int64 counts before they can overflow (every 255 words).
struct Spread {
  uint64_t t[256];
  Spread() {
    for (uint32_t b = 0; b < 256; ++b) {
      t[b] = 0;
      for (int j = 0; j < 8; ++j) t[b] |= static_cast<uint64_t>((b >> j) & 1u) << (8 * j);
    }
  }
};

const Spread& spread() {
  static const Spread table;
  return table;
}

class LayerCounter {
 public:
  LayerCounter(int64_t* ones, int layers) : ones_(ones), layers_(layers) {}
  void add(uint32_t word) {
    const uint64_t* t = spread().t;
    for (int q = 0; q < 4; ++q) acc_[q] += t[(word >> (8 * q)) & 255u];
    if (++pending_ == 255) flush();
  }

  // Adds the pending counts into `ones`; call once after the last word.
  void flush() {
    for (int l = 0; l < layers_; ++l) ones_[l] += (acc_[l / 8] >> (8 * (l % 8))) & 255u;
    acc_[0] = acc_[1] = acc_[2] = acc_[3] = 0;
    pending_ = 0;
  }

 private:
  int64_t* ones_;
  int layers_;
  uint64_t acc_[4] = {0, 0, 0, 0};
  int pending_ = 0;
};

void score_doc(const SynthIdScoreArgs& a, const Key128& key, int64_t d, bool simd, PairSet& seen) {
  const int64_t s = scored_begin(a, d), hi = a.offsets[d + 1];
  int64_t* ones = a.ones + d * a.layers;
  std::fill(ones, ones + a.layers, 0);
  if (a.dedup) seen.reset(hi - s);
  int64_t n = 0;
  LayerCounter counter(ones, a.layers);
  uint32_t ctx[8], words[8];
  for (int64_t i = s; i < hi; i += 8) {
    // Hashes and words eight positions at a time; the tail (fewer than 8) one by one.
    const int m = static_cast<int>(std::min<int64_t>(8, hi - i));
    if (m == 8) {
      ctx_words8(key, a.tokens, i, a.width, a.seeding, 0u, kDomainSynthIdG, simd, ctx, words);
    } else {
      for (int j = 0; j < m; ++j) {
        ctx[j] = context_hash(a.tokens + i + j - a.width, a.width, a.seeding);
        words[j] = synthid_g_word(key, ctx[j], static_cast<uint32_t>(a.tokens[i + j]));
      }
    }
    for (int j = 0; j < m; ++j) {
      if (a.dedup && !seen.insert(ctx[j], a.tokens[i + j])) continue;
      counter.add(words[j]);
      ++n;
      if (a.counted) a.counted[i + j] = 1;
    }
  }
  counter.flush();
  a.n_scored[d] = n;
}

}  // namespace

void score_synthid(const SynthIdScoreArgs& a) {
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
