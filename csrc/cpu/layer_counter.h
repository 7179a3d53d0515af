// SynthID detection's per-layer counts of g-values equal to 1, shared by score_synthid and the
// K-key scorer (score_keys.cpp).
#pragma once

#include <cstdint>

namespace tokenmark::cpu {

// Eight layers per add: kSpread[b] moves bit j of the byte b into byte j, so four table adds
// count the 32 bits of a word in 32 byte-wide counters, which are flushed into the int64 counts
// before they can overflow (every 255 words).
struct Spread {
  uint64_t t[256];
  Spread() {
    for (uint32_t b = 0; b < 256; ++b) {
      t[b] = 0;
      for (int j = 0; j < 8; ++j) t[b] |= static_cast<uint64_t>((b >> j) & 1u) << (8 * j);
    }
  }
};

inline const Spread& spread() {
  static const Spread table;
  return table;
}

class LayerCounter {
 public:
  LayerCounter(int64_t* ones, int layers) : ones_(ones), layers_(layers), t_(spread().t) {}
  void add(uint32_t word) {
    for (int q = 0; q < 4; ++q) acc_[q] += t_[(word >> (8 * q)) & 255u];
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
  const uint64_t* t_;  // spread().t, looked up once
  uint64_t acc_[4] = {0, 0, 0, 0};
  int pending_ = 0;
};

}  // namespace tokenmark::cpu
