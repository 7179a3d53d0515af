// SGLang's watermark hash (SGLang 0.5.23, python/sglang/srt/sampling/watermarking/detector.py),
// host+device: a dialect, so its constants are MurmurHash3's (x86, 32-bit) and SGLang's, frozen
// by SGLang, not by tokenmark's spec. The numpy re-statement is
// python/tokenmark/reference/sglang.py.
#pragma once

#include <cmath>
#include <cstdint>

#include "prf.h"

namespace tokenmark {

TM_HD uint32_t sglang_rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// MurmurHash3 x86_32's body step: absorb one 32-bit word into `state`.
TM_HD uint32_t sglang_mix(uint32_t state, uint32_t value) {
  value *= 0xCC9E2D51u;
  value = sglang_rotl32(value, 15);
  value *= 0x1B873593u;
  state = sglang_rotl32(state ^ value, 13);
  return state * 5u + 0xE6546B64u;
}

// MurmurHash3's finaliser, after XOR-ing in the byte length (4 per word absorbed).
TM_HD uint32_t sglang_fmix(uint32_t h, uint32_t n_words) {
  h ^= 4u * n_words;
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  return h ^ (h >> 16);
}

// The hash of a context of `len` tokens (oldest first; ids taken mod 2^32).
template <typename CtxFn>
TM_HD uint32_t sglang_context_hash(int len, CtxFn ctx) {
  uint32_t s = 0;
  for (int i = 0; i < len; ++i) s = sglang_mix(s, ctx(i));
  return sglang_fmix(s, static_cast<uint32_t>(len));
}

// The token hash under the 64-bit key: murmur3(key_lo, key_hi, context_hash, token).
TM_HD uint32_t sglang_token_hash(uint64_t key, uint32_t context_hash, uint32_t token) {
  uint32_t s = sglang_mix(0u, static_cast<uint32_t>(key));
  s = sglang_mix(s, static_cast<uint32_t>(key >> 32));
  s = sglang_mix(s, context_hash);
  return sglang_fmix(sglang_mix(s, token), 4u);
}

// Dual key: the per-context coin; key A is used where coin < floor(P * 2^32).
TM_HD uint32_t sglang_coin(uint64_t key_a, uint64_t key_b, uint32_t context_hash) {
  uint32_t s = sglang_mix(0u, static_cast<uint32_t>(key_a));
  s = sglang_mix(s, static_cast<uint32_t>(key_a >> 32));
  s = sglang_mix(s, static_cast<uint32_t>(key_b));
  s = sglang_mix(s, static_cast<uint32_t>(key_b >> 32));
  return sglang_fmix(sglang_mix(s, context_hash), 5u);
}

// The detector's per-token score -log(1 - u) with u = (hash + 0.5) / 2^32, in float64.
inline double sglang_score(uint32_t hash) {
  return -std::log1p(-((static_cast<double>(hash) + 0.5) / 4294967296.0));
}

}  // namespace tokenmark
