// score_synthid on the CPU: per document, the counted tokens and per layer how many of their
// g-values are 1 (each (context hash, token) pair once with dedup). Threads take whole documents;
// context hashes and PRF words come eight positions at a time (AVX2 where the CPU has it).
#include <algorithm>
#include <cstdint>

#include "cpu_features.h"
#include "doc_scan.h"
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

}  // namespace

void score_synthid(const SynthIdScoreArgs& a) {
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  const bool simd = simd_enabled();
  score_docs(a, [&](int64_t d, PairSet& seen) {
    int64_t* ones = a.ones + d * a.layers;
    std::fill(ones, ones + a.layers, 0);
    LayerCounter counter(ones, a.layers);
    a.n_scored[d] = scan_doc(a, key, d, 0u, kDomainSynthIdG, simd, seen,
                             [&](uint32_t word) { counter.add(word); });
    counter.flush();
  });
}

}  // namespace tokenmark::cpu
