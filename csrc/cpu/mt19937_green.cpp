// torch's CPU randperm (Fisher-Yates with random() % (n - i)) and the KGW green lists drawn from
// it, one seed per list.
#include <cstring>
#include <vector>

#include "mt19937.h"

namespace tokenmark::cpu {

void torch_cpu_randperm(uint32_t seed, int64_t n, int64_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = i;
  Mt19937 gen(seed);
  for (int64_t i = 0; i + 1 < n; ++i) {
    const int64_t j = i + static_cast<int64_t>(gen() % static_cast<uint64_t>(n - i));
    const int64_t t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
}

namespace {

// The permutation as a sparse overlay of the identity: an entry holds a value only when its
// stamp is the current list's, so no list pays to reset `vocab` entries.
struct Overlay {
  std::vector<int32_t> value;
  std::vector<uint32_t> stamp;
  uint32_t current = 0;

  explicit Overlay(int64_t n) : value(n), stamp(n, 0) {}
  void Next() {
    if (++current == 0) {  // stamps wrapped: clear them once every 2^32 lists
      std::fill(stamp.begin(), stamp.end(), 0u);
      current = 1;
    }
  }
  int32_t Get(int64_t i) const { return stamp[i] == current ? value[i] : static_cast<int32_t>(i); }
  void Set(int64_t i, int32_t v) {
    stamp[i] = current;
    value[i] = v;
  }
};

void green_list(uint32_t seed, int64_t vocab, int64_t green_size, Overlay& perm, uint8_t* bits) {
  std::memset(bits, 0, static_cast<size_t>((vocab + 7) / 8));
  perm.Next();
  Mt19937 gen(seed);
  const int64_t steps = green_size < vocab - 1 ? green_size : vocab - 1;
  for (int64_t i = 0; i < steps; ++i) {
    // vocab < 2^31: the 32-bit remainder equals torch's 64-bit one, at a fraction of its cost.
    const int64_t j = i + static_cast<int64_t>(gen() % static_cast<uint32_t>(vocab - i));
    const int32_t head = perm.Get(j);
    perm.Set(j, perm.Get(i));
    bits[head >> 3] |= static_cast<uint8_t>(1u << (head & 7));
  }
  if (steps < green_size) {  // the whole vocabulary: the last entry is the one left there
    const int32_t last = perm.Get(vocab - 1);
    bits[last >> 3] |= static_cast<uint8_t>(1u << (last & 7));
  }
}

}  // namespace

void torch_cpu_green_lists(const uint32_t* seeds, int64_t n_seeds, int64_t vocab,
                           int64_t green_size, uint8_t* bits) {
  const int64_t row_bytes = (vocab + 7) / 8;
#pragma omp parallel if (n_seeds > 1)
  {
    Overlay perm(vocab);
#pragma omp for schedule(dynamic, 4)
    for (int64_t s = 0; s < n_seeds; ++s) {
      green_list(seeds[s], vocab, green_size, perm, bits + s * row_bytes);
    }
  }
}

}  // namespace tokenmark::cpu
