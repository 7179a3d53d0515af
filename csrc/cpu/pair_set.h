// An open-addressing set of (context hash, token) pairs: the PRF inputs a detector has already
// counted in one document. Reused across documents by one thread.
#pragma once

#include <cstdint>
#include <vector>

namespace tokenmark::cpu {

class PairSet {
 public:
  // Empties the set and sizes it for up to `n` insertions (load factor <= 1/2).
  void reset(int64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * static_cast<uint64_t>(n)) cap <<= 1;
    shift_ = 64 - __builtin_ctzll(cap);
    table_.assign(cap, kEmpty);
  }

  // Inserts (ctx, token); returns whether it was new.
  bool insert(uint32_t ctx, int32_t token) {
    const uint64_t k = (static_cast<uint64_t>(ctx) << 32) | static_cast<uint32_t>(token);
    const uint64_t mask = table_.size() - 1;
    uint64_t slot = (k * 0x9E3779B97F4A7C15ull) >> shift_;
    while (table_[slot] != kEmpty) {
      if (table_[slot] == k) return false;
      slot = (slot + 1) & mask;
    }
    table_[slot] = k;
    return true;
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;  // token ids are < 2^31, so no pair has this value
  std::vector<uint64_t> table_;
  int shift_ = 60;
};

}  // namespace tokenmark::cpu
