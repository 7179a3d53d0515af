// vLLM's watermark PRF (vLLM 0.33.0, vllm/v1/watermarking/prfs/philox.py), host+device: a
// dialect, so its constants are vLLM's and frozen by vLLM, not by tokenmark's spec. The numpy
// re-statement is python/tokenmark/dialects/vllm.py (philox_uniform).
#pragma once

#include <cstdint>

#include "prf.h"

namespace tokenmark {

constexpr uint32_t kVllmContextDomain = 0x574D4358u;  // "WMCX"
constexpr uint32_t kVllmTokenDomain = 0x574D544Bu;    // "WMTK"

// The Philox word of `token` after absorbing `width` context words (-1 as 0xFFFFFFFF) in blocks
// of four, a short last block padded with 0xFFFFFFFF - i. key = (k0, k1) = (key & 0xFFFFFFFF,
// key >> 32). `ctx(i)` returns context word i (oldest first).
template <typename CtxFn>
TM_HD uint32_t vllm_word(uint32_t k0, uint32_t k1, int width, CtxFn ctx, uint32_t token) {
  uint32_t s[4] = {kVllmContextDomain, static_cast<uint32_t>(width), 0u, 0u};
  for (int offset = 0; offset < width; offset += 4) {
    uint32_t c[4];
    for (int i = 0; i < 4; ++i) {
      const uint32_t word = offset + i < width ? ctx(offset + i) : 0xFFFFFFFFu - i;
      c[i] = s[i] ^ word;
    }
    const U32x4 o = philox4x32_10(c[0], c[1], c[2], c[3], k0 ^ static_cast<uint32_t>(offset), k1);
    for (int i = 0; i < 4; ++i) s[i] = o.v[i];
  }
  const U32x4 o = philox4x32_10(token >> 2, s[0], s[1], s[2], k0 ^ s[3], k1 ^ kVllmTokenDomain);
  return block_word(o, token);
}

// vLLM's float32 uniform of a PRF word: (float64(word >> 8) + 1) / (2^24 + 1), rounded to float32.
TM_HD float vllm_uniform(uint32_t word) {
  return static_cast<float>((static_cast<double>(word >> 8) + 1.0) / 16777217.0);
}

}  // namespace tokenmark
