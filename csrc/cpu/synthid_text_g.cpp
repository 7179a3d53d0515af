// SynthID-Text g-values (transformers / synthid-text): one LCG step per layer and a table look-up.
#include "synthid_text_g.h"

namespace tokenmark::cpu {

void synthid_text_g_values(const uint64_t* hashes, int64_t n, const uint64_t* keys, int depth,
                           const uint8_t* table, int64_t table_size, uint8_t* g) {
  constexpr uint64_t kMultiplier = 6364136223846793005ull;  // their accumulate_hash LCG
  const bool pow2 = (table_size & (table_size - 1)) == 0;
  const uint64_t mask = static_cast<uint64_t>(table_size - 1);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    for (int l = 0; l < depth; ++l) {
      const uint64_t h = (hashes[i] + keys[l]) * kMultiplier + 1u;
      int64_t idx;
      if (pow2) {
        idx = static_cast<int64_t>(h & mask);  // floor modulo by 2^b: the low b bits
      } else {
        const int64_t s = static_cast<int64_t>(h);  // torch's % on int64: floor modulo
        idx = s % table_size;
        if (idx < 0) idx += table_size;
      }
      g[i * depth + l] = table[idx];
    }
  }
}

}  // namespace tokenmark::cpu
