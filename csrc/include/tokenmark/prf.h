// The tokenmark PRF: Philox4x32-10 keyed with 128 bits, plus the unkeyed context hashes.
//
// FROZEN. Every constant and every line of arithmetic in this file decides which tokens were
// green in text that users have already watermarked. Changing any of it silently breaks the
// detection of that text. tests/data/prf_golden.json pins it; docs/prf.md specifies it.
//
// Host+device: the same lines compile into the C++ CPU kernels and the CUDA kernels. The Triton
// kernels (kernels/prf.py) and the numpy reference (python/tokenmark/reference/prf.py) restate it.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define TM_HD __host__ __device__ __forceinline__
#else
#define TM_HD inline
#endif

namespace tokenmark {

// Philox4x32 constants (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11;
// Random123). Multipliers and Weyl key increments. Frozen.
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;
constexpr int kPhiloxRounds = 10;

// Domain tags, XORed into counter word 2 so that each use of the PRF draws from its own stream.
// Frozen; new uses take new tags.
constexpr uint32_t kDomainKgwGreen = 1u;
constexpr uint32_t kDomainSynthIdG = 2u;
constexpr uint32_t kDomainGumbel = 3u;

// Seeds of the unkeyed context hashes. Frozen.
constexpr uint32_t kCtxSeedPrev = 0x243F6A88u;  // pi fraction digits
constexpr uint32_t kCtxSeedMin = 0x85A308D3u;

// Context seeding schemes (the `seeding` argument). Frozen numbering.
enum Seeding : int32_t { kSeedingPrev = 0, kSeedingMinhash = 1 };

// A 128-bit key: k[0], k[1] are the Philox key; k[2], k[3] enter the counter.
struct Key128 {
  uint32_t k[4];
};

struct U32x4 {
  uint32_t v[4];
};

TM_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// Philox4x32-10 on counter (c0, c1, c2, c3) and key (k0, k1).
TM_HD U32x4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                          uint32_t k1) {
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int r = 0; r < kPhiloxRounds; ++r) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(kPhiloxM0, c0, &hi0);
    const uint32_t lo1 = mulhilo32(kPhiloxM1, c2, &hi1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return U32x4{{c0, c1, c2, c3}};
}

// The keyed PRF. One call covers the four token ids 4j..4j+3 (counter word 0 holds token >> 2);
// word token & 3 belongs to `token`. Counter word 1 is the context hash; words 2 and 3 carry
// the second half of the key, word 2 XOR the domain tag.
TM_HD U32x4 prf_block(const Key128& key, uint32_t ctx, uint32_t token_block, uint32_t domain) {
  return philox4x32_10(token_block, ctx, key.k[2] ^ domain, key.k[3], key.k[0], key.k[1]);
}

// Word i & 3 of a block, picked by selects: a dynamic index into the block would put it in a GPU
// thread's local memory (a store and a load).
TM_HD uint32_t block_word(const U32x4& w, uint32_t i) {
  const uint32_t lo = (i & 1u) ? w.v[1] : w.v[0], hi = (i & 1u) ? w.v[3] : w.v[2];
  return (i & 2u) ? hi : lo;
}

TM_HD uint32_t prf_word(const Key128& key, uint32_t ctx, uint32_t token, uint32_t domain) {
  return block_word(prf_block(key, ctx, token >> 2, domain), token);
}

// murmur3's 32-bit finaliser: a bijective avalanche mix.
TM_HD uint32_t fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return x;
}

// Context hash of the `width` tokens before a position, oldest first: tokens[0..width).
// width == 0 gives 0 (the Unigram watermark: one fixed green list).
// prev: an ordered chain, s <- fmix32(s ^ t), from kCtxSeedPrev.
// minhash: min over fmix32(t ^ kCtxSeedMin); invariant to the order and to edits that keep the
// minimum, so it survives local edits better.
template <typename TokenT>
TM_HD uint32_t context_hash(const TokenT* tokens, int width, int seeding) {
  if (width <= 0) return 0u;
  if (seeding == kSeedingMinhash) {
    uint32_t m = 0xFFFFFFFFu;
    for (int i = 0; i < width; ++i) {
      const uint32_t h = fmix32(static_cast<uint32_t>(tokens[i]) ^ kCtxSeedMin);
      m = h < m ? h : m;
    }
    return m;
  }
  uint32_t s = kCtxSeedPrev;
  for (int i = 0; i < width; ++i) s = fmix32(s ^ static_cast<uint32_t>(tokens[i]));
  return s;
}

}  // namespace tokenmark
