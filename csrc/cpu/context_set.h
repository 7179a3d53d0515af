// The contexts one document has seen, for the dialects' "score each context once" rules: an open
// addressing table of positions keyed by a hash of the context, equality decided by the caller.
#pragma once

#include <cstdint>
#include <vector>

namespace tokenmark::cpu {

class ContextSet {
 public:
  // Room for n insertions (load factor at most 1/8, 1/4 past 8192 insertions, where the table
  // outgrows the caches anyway: fewer probes past the first slot, whose unpredictable count costs
  // more than the larger table; measured on 1000 x 512 tokens, 1/8 is ~10% faster than 1/4 and
  // 1/2 ~30% slower). The table is reused across documents: a slot is live only when its stamp is
  // the current document's, so a reset clears nothing.
  void reset(int64_t n) {
    const uint64_t spread = n <= 8192 ? 8 : 4;
    uint64_t cap = 16;
    while (cap < spread * static_cast<uint64_t>(n)) cap <<= 1;
    if (++current_ == 0 || slots_.size() != cap) {  // new size, or stamps wrapped
      slots_.assign(cap, Slot{0, 0, 0});
      current_ = 1;
    }
  }
  // Inserts position p; returns false when an earlier position q had the same context
  // (same(q) true). Positions of another hash are passed over without asking `same`.
  template <typename Same>
  bool insert(uint32_t h, int64_t p, Same same) {
    const uint64_t mask = slots_.size() - 1;
    uint64_t slot = (h * 0x9E3779B97F4A7C15ull) >> 7 & mask;
    while (slots_[slot].stamp == current_) {
      if (slots_[slot].hash == h && same(slots_[slot].pos)) return false;
      slot = (slot + 1) & mask;
    }
    slots_[slot] = Slot{p, current_, h};
    return true;
  }

 private:
  struct Slot {
    int64_t pos;
    uint32_t stamp;
    uint32_t hash;
  };
  std::vector<Slot> slots_;
  uint32_t current_ = 0;
};

}  // namespace tokenmark::cpu
