// MT19937 (Matsumoto and Nishimura, 1998) exactly as torch's CPU generator runs it, and the
// green lists that transformers' and TGI's KGW draw from it with torch.randperm. The numpy spec is
// python/tokenmark/dialects/_torch_mt.py; tests/dialects/test_torch_mt.py checks both against
// torch.
#pragma once

#include <cstdint>

namespace tokenmark::cpu {

// The MT19937 parameters (frozen by the algorithm's definition, not ours to change).
constexpr int kMtN = 624;
constexpr int kMtM = 397;
constexpr uint32_t kMtMatrixA = 0x9908b0dfu;
constexpr uint32_t kMtUpperMask = 0x80000000u;
constexpr uint32_t kMtLowerMask = 0x7fffffffu;
// torch.randperm on the CPU uses another algorithm from this n on (UINT32_MAX / 20).
constexpr int64_t kRandpermMaxN = 214748364;

class Mt19937 {
 public:
  // init_genrand: torch's manual_seed(s) keeps only the low 32 bits of s.
  explicit Mt19937(uint32_t seed) {
    state_[0] = seed;
    for (int j = 1; j < kMtN; ++j) {
      state_[j] = 1812433253u * (state_[j - 1] ^ (state_[j - 1] >> 30)) + static_cast<uint32_t>(j);
    }
    next_ = kMtN;
  }

  // The next kMtN outputs at once, what kMtN calls of operator() return; only at a block
  // boundary (fresh, or after Block). With `simd`, the twist and tempering run eight words at a
  // time with AVX2 (mt19937_green.cpp; the caller checked the CPU).
  void Block(uint32_t* out /* [kMtN] */, bool simd);

  uint32_t operator()() {
    if (next_ >= kMtN) Twist();
    uint32_t y = state_[next_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }

 private:
  void BlockAvx2(uint32_t* out);

  static uint32_t Mix(uint32_t upper, uint32_t lower, uint32_t far) {
    const uint32_t y = (upper & kMtUpperMask) | (lower & kMtLowerMask);
    return far ^ (y >> 1) ^ ((y & 1u) ? kMtMatrixA : 0u);
  }

  void Twist() {
    int i = 0;
    for (; i < kMtN - kMtM; ++i) state_[i] = Mix(state_[i], state_[i + 1], state_[i + kMtM]);
    for (; i < kMtN - 1; ++i) state_[i] = Mix(state_[i], state_[i + 1], state_[i + kMtM - kMtN]);
    state_[kMtN - 1] = Mix(state_[kMtN - 1], state_[0], state_[kMtM - 1]);
    next_ = 0;
  }

  uint32_t state_[kMtN];
  int next_;
};

// torch.randperm(n, generator=manual_seed(seed)) on the CPU, n in [0, kRandpermMaxN).
void torch_cpu_randperm(uint32_t seed, int64_t n, int64_t* out /* [n] */);

// For each seed, the green list randperm(vocab)[:green_size] as a little-endian bitset (bit t % 8
// of byte t / 8 set when token t is green). Only green_size Fisher-Yates steps are run: entry i
// never moves after step i. Threads over seeds.
void torch_cpu_green_lists(const uint32_t* seeds /* [n_seeds] */, int64_t n_seeds, int64_t vocab,
                           int64_t green_size, uint8_t* bits /* [n_seeds, (vocab + 7) / 8] */);

}  // namespace tokenmark::cpu
