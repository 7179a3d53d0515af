// SynthID-Text's g-values of every layer at once (a dialect fast path). With a table of 2^b
// entries, g[l] = table[(htc + k_l) mod 2^b] depends on htc only through its low b bits u, so a
// table of layer bits bits[u] (bit l: g[l]) gives a position's g-values in one look-up, and the
// per-layer counts are byte counters in AVX2 registers. Built once per (keys, table); taken only
// where the table holds 0s and 1s, has 2^b <= kLayerBitsMaxSize entries and depth <= 64.
#pragma once

#include <cstdint>
#include <vector>

namespace tokenmark::cpu {

constexpr int64_t kLayerBitsMaxSize = int64_t{1} << 18;
constexpr int kLayerBitsMaxDepth = 64;

// True where layer bits can stand for (keys, table): see above.
bool synthid_text_layer_bits_fit(const uint8_t* table, int64_t size, int depth);

// bits [size, words] (words = ceil(depth / 32)), bit l % 32 of word l / 32 of row u:
// table[(u + key_terms[l]) mod size], key_terms[l] = keys[l] * 6364136223846793005 + 1.
std::vector<uint32_t> synthid_text_layer_bits(const uint64_t* keys, int depth, const uint8_t* table,
                                              int64_t size);

// ones[l] += number of i < n with bit l of bits[(htc[i] & (size - 1)) * words + l / 32] set.
// AVX2 byte counters where simd_enabled(), else one bit at a time.
void count_layer_bits(const uint64_t* htc, int64_t n, const uint32_t* bits, int64_t size, int depth,
                      int64_t* ones);

}  // namespace tokenmark::cpu
