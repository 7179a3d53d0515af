// torch's CPU randperm (Fisher-Yates with random() % (n - i)) and the KGW green lists drawn from
// it, one seed per list.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_features.h"
#include "mt19937.h"
#include "simd_avx2.h"

namespace tokenmark::cpu {

void Mt19937::Block(uint32_t* out, bool simd) {
  if (simd) {
    BlockAvx2(out);
    return;
  }
  for (int i = 0; i < kMtN; ++i) out[i] = (*this)();
}

namespace {

// Mt19937::Mix on eight lanes.
TM_AVX2 inline __m256i mix8(__m256i upper, __m256i lower, __m256i far) {
  const __m256i y =
      _mm256_or_si256(_mm256_and_si256(upper, _mm256_set1_epi32(static_cast<int>(kMtUpperMask))),
                      _mm256_and_si256(lower, _mm256_set1_epi32(static_cast<int>(kMtLowerMask))));
  const __m256i odd = _mm256_sub_epi32(_mm256_setzero_si256(),
                                       _mm256_and_si256(y, _mm256_set1_epi32(1)));  // 0 or ~0
  const __m256i mag = _mm256_and_si256(odd, _mm256_set1_epi32(static_cast<int>(kMtMatrixA)));
  return _mm256_xor_si256(_mm256_xor_si256(far, _mm256_srli_epi32(y, 1)), mag);
}

// state[i] for i in [lo, hi), far word at i + shift, eight at a time, then the rest one by one.
// In order of i every word read is still the one the scalar twist would read: the next words
// (i + 1 .. i + 8) are not yet rewritten, the far ones are (shift < 0) or are not (shift > 0) as
// in the scalar loop, since |shift| >= 8.
TM_AVX2 inline int twist_range(uint32_t* state, int lo, int hi, int shift) {
  int i = lo;
  for (; i + 8 <= hi; i += 8) {
    const __m256i upper = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state + i));
    const __m256i lower = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state + i + 1));
    const __m256i far = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state + i + shift));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(state + i), mix8(upper, lower, far));
  }
  return i;
}

}  // namespace

TM_AVX2 void Mt19937::BlockAvx2(uint32_t* out) {
  // The twist (as Twist), vectorised; kMtN - 1 = 623 reads state_[0]: kept scalar.
  int i = twist_range(state_, 0, kMtN - kMtM, kMtM);
  for (; i < kMtN - kMtM; ++i) state_[i] = Mix(state_[i], state_[i + 1], state_[i + kMtM]);
  i = twist_range(state_, kMtN - kMtM, kMtN - 1, kMtM - kMtN);
  for (; i < kMtN - 1; ++i) state_[i] = Mix(state_[i], state_[i + 1], state_[i + kMtM - kMtN]);
  state_[kMtN - 1] = Mix(state_[kMtN - 1], state_[0], state_[kMtM - 1]);
  // Tempering; kMtN = 624 = 78 * 8.
  static_assert(kMtN % 8 == 0, "whole AVX2 blocks");
  for (int k = 0; k < kMtN; k += 8) {
    __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state_ + k));
    y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 11));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 7),
                                             _mm256_set1_epi32(static_cast<int>(0x9d2c5680u))));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 15),
                                             _mm256_set1_epi32(static_cast<int>(0xefc60000u))));
    y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 18));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k), y);
  }
  next_ = kMtN;  // the block is consumed: the next call twists again
}

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
// stamp is the current list's, so no list pays to reset `vocab` entries. Value and stamp share
// one cell: the random j of a Fisher-Yates step touches one cache line, not two. Cell is
// {int32 value, uint32 stamp} (8 bytes), or {uint16, uint16} (4 bytes: half the table to keep in
// cache) when every value fits in 16 bits (vocab <= 65536); stamps then wrap every 65535 lists.
template <typename Value, typename Stamp>
struct Overlay {
  struct Cell {
    Value value;
    Stamp stamp;
  };
  std::vector<Cell> cells;
  Stamp current = 0;

  explicit Overlay(int64_t n) : cells(n, Cell{0, 0}) {}
  void Next() {
    if (++current == 0) {  // stamps wrapped: clear them once every 2^(stamp bits) - 1 lists
      std::fill(cells.begin(), cells.end(), Cell{0, 0});
      current = 1;
    }
  }
  int32_t Get(int64_t i) const {
    return cells[i].stamp == current ? static_cast<int32_t>(cells[i].value)
                                     : static_cast<int32_t>(i);
  }
};

// x mod d for 32-bit x and d >= 1 from magic = 2^64 / d rounded up (Lemire, Kaser and Kurz,
// "Faster remainder by direct computation", 2019): exact for every 32-bit x and d, two multiplies
// instead of a division. Every list divides by the same vocab - i at step i, so the magics are
// made once per call.
inline uint32_t fastmod_u32(uint32_t x, uint64_t magic, uint32_t d) {
  const uint64_t low = magic * x;
  return static_cast<uint32_t>((static_cast<unsigned __int128>(low) * d) >> 64);
}

template <typename Overlay>
void green_list(uint32_t seed, int64_t vocab, int64_t green_size, const uint64_t* magic, bool simd,
                Overlay& perm, uint8_t* bits) {
  std::memset(bits, 0, static_cast<size_t>((vocab + 7) / 8));
  perm.Next();
  Mt19937 gen(seed);
  uint32_t block[kMtN];  // the generator's outputs, kMtN at a time
  const int64_t steps = green_size < vocab - 1 ? green_size : vocab - 1;
  // The overlay's cells and stamp in locals: the byte stores to `bits` may alias anything, and
  // would otherwise make the compiler reload them at every step.
  auto* const cells = perm.cells.data();
  const auto current = perm.current;
  using Cell = typename Overlay::Cell;
  using Value = decltype(Cell::value);
  auto get = [&](int64_t i) {  // branch-free: late in a list, whether i was set is a coin flip
    const Cell c = cells[i];
    const int32_t set = -static_cast<int32_t>(c.stamp == current);  // all ones when set
    return (static_cast<int32_t>(c.value) & set) | (static_cast<int32_t>(i) & ~set);
  };
  for (int64_t i0 = 0; i0 < steps; i0 += kMtN) {
    gen.Block(block, simd);
    const int64_t i1 = std::min<int64_t>(i0 + kMtN, steps);
    for (int64_t i = i0; i < i1; ++i) {
      // vocab < 2^31: the 32-bit remainder equals torch's 64-bit one, at a fraction of its cost.
      const uint32_t d = static_cast<uint32_t>(vocab - i);
      const int64_t j = i + static_cast<int64_t>(fastmod_u32(block[i - i0], magic[i], d));
      const int32_t head = get(j);
      cells[j] = Cell{static_cast<Value>(get(i)), current};
      bits[head >> 3] |= static_cast<uint8_t>(1u << (head & 7));
    }
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
  const int64_t steps = std::min(green_size, vocab - 1);
  std::vector<uint64_t> magic(std::max<int64_t>(steps, 0));
  for (int64_t i = 0; i < steps; ++i) magic[i] = ~0ull / static_cast<uint64_t>(vocab - i) + 1;
  const bool simd = simd_enabled();
  auto draw = [&](auto& perm) {
#pragma omp for schedule(dynamic, 4)
    for (int64_t s = 0; s < n_seeds; ++s) {
      green_list(seeds[s], vocab, green_size, magic.data(), simd, perm, bits + s * row_bytes);
    }
  };
#pragma omp parallel if (n_seeds > 1)
  {
    if (vocab <= 65536) {
      Overlay<uint16_t, uint16_t> perm(vocab);
      draw(perm);
    } else {
      Overlay<int32_t, uint32_t> perm(vocab);
      draw(perm);
    }
  }
}

}  // namespace tokenmark::cpu
