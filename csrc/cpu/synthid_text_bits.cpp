// SynthID-Text layer bits: the table of every layer's g-value per low-bits hash, and the
// per-layer counts of a document's positions from it (see synthid_text_bits.h).
#include "synthid_text_bits.h"

#include <algorithm>

#include "cpu_features.h"
#include "simd_avx2.h"

namespace tokenmark::cpu {
namespace {

constexpr uint64_t kLcgMul = 6364136223846793005ull;  // their accumulate_hash LCG

int words_of(int depth) { return (depth + 31) / 32; }

void count_scalar(const uint64_t* htc, int64_t n, const uint32_t* bits, int64_t size, int depth,
                  int64_t* ones) {
  const int words = words_of(depth);
  const uint64_t mask = static_cast<uint64_t>(size - 1);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t* row = bits + static_cast<int64_t>(htc[i] & mask) * words;
    for (int l = 0; l < depth; ++l) ones[l] += row[l >> 5] >> (l & 31) & 1u;
  }
}

// One word (32 layers) of counts: each position's word is spread to 32 bytes (byte j: bit j)
// and subtracted as 0 / -1 from byte counters, emptied into ones every 255 positions.
TM_AVX2 void count_word_avx2(const uint64_t* htc, int64_t n, const uint32_t* bits, uint64_t mask,
                             int words, int w, int layers, int64_t* ones) {
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                          2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  alignas(32) uint8_t lanes[32];
  int64_t total[32] = {};
  for (int64_t i = 0; i < n;) {
    const int64_t stop = std::min(n, i + 255);  // a byte counter holds up to 255
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (; i + 2 <= stop; i += 2) {
      const uint32_t m0 = bits[static_cast<int64_t>(htc[i] & mask) * words + w];
      const uint32_t m1 = bits[static_cast<int64_t>(htc[i + 1] & mask) * words + w];
      const __m256i v0 = _mm256_and_si256(
          _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(m0)), spread), select);
      const __m256i v1 = _mm256_and_si256(
          _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(m1)), spread), select);
      acc0 = _mm256_sub_epi8(acc0, _mm256_cmpeq_epi8(v0, select));
      acc1 = _mm256_sub_epi8(acc1, _mm256_cmpeq_epi8(v1, select));
    }
    if (i < stop) {
      const uint32_t m0 = bits[static_cast<int64_t>(htc[i] & mask) * words + w];
      const __m256i v0 = _mm256_and_si256(
          _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(m0)), spread), select);
      acc0 = _mm256_sub_epi8(acc0, _mm256_cmpeq_epi8(v0, select));
      ++i;
    }
    // acc0 + acc1 <= 255 per byte: each counts at most half of the 255 positions, plus one
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi8(acc0, acc1));
    for (int j = 0; j < 32; ++j) total[j] += lanes[j];
  }
  for (int j = 0; j < layers; ++j) ones[w * 32 + j] += total[j];
}

}  // namespace

bool synthid_text_layer_bits_fit(const uint8_t* table, int64_t size, int depth) {
  if (size < 1 || size > kLayerBitsMaxSize || (size & (size - 1)) != 0) return false;
  if (depth < 1 || depth > kLayerBitsMaxDepth) return false;
  return std::all_of(table, table + size, [](uint8_t v) { return v <= 1; });
}

namespace {

// Layer l's bits into column word l / 32 of rows of kWords words (a compile-time stride, so the
// row loops vectorise): row u reads table[u + k] up to the end of the table, then
// table[u + k - size].
template <int kWords>
void set_layer(uint32_t* bits, int l, int64_t k, const uint8_t* table, int64_t size) {
  uint32_t* col = bits + (l >> 5);
  const int shift = l & 31;
  for (int64_t u = 0; u < size - k; ++u) col[u * kWords] |= uint32_t{table[u + k]} << shift;
  for (int64_t u = size - k; u < size; ++u) {
    col[u * kWords] |= uint32_t{table[u + k - size]} << shift;
  }
}

}  // namespace

std::vector<uint32_t> synthid_text_layer_bits(const uint64_t* keys, int depth, const uint8_t* table,
                                              int64_t size) {
  const int words = words_of(depth);  // 1 or 2: depth <= kLayerBitsMaxDepth
  const uint64_t mask = static_cast<uint64_t>(size - 1);
  std::vector<uint32_t> bits(static_cast<size_t>(size) * words, 0);
  for (int l = 0; l < depth; ++l) {
    const int64_t k = static_cast<int64_t>((keys[l] * kLcgMul + 1u) & mask);
    if (words == 1) {
      set_layer<1>(bits.data(), l, k, table, size);
    } else {
      set_layer<2>(bits.data(), l, k, table, size);
    }
  }
  return bits;
}

void count_layer_bits(const uint64_t* htc, int64_t n, const uint32_t* bits, int64_t size, int depth,
                      int64_t* ones) {
  if (!simd_enabled()) {
    count_scalar(htc, n, bits, size, depth, ones);
    return;
  }
  const int words = words_of(depth);
  for (int w = 0; w < words; ++w) {
    count_word_avx2(htc, n, bits, static_cast<uint64_t>(size - 1), words, w,
                    std::min(32, depth - 32 * w), ones);
  }
}

}  // namespace tokenmark::cpu
