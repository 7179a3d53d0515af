// Scalar float <-> float16 / bfloat16 conversions with round-to-nearest-even, bit-exact with
// numpy's float16 casts, torch's bfloat16 casts and CUDA's __float2half_rn / __float2bfloat16_rn.
#pragma once

#include <cstdint>
#include <cstring>

namespace tokenmark::cpu {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    return f32_from_bits(sign | f32_bits(static_cast<float>(mant) * 5.9604644775390625e-8f));
  }
  if (exp == 31) return f32_from_bits(sign | 0x7F800000u | (mant << 13));
  return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

inline uint16_t float_to_half(float value) {
  uint32_t f = f32_bits(value);
  const uint32_t sign = f & 0x80000000u;
  f ^= sign;
  uint32_t out;
  if (f >= (143u << 23)) {  // >= 2^16, inf or NaN: overflow to inf, NaN stays quiet NaN
    out = f > 0x7F800000u ? 0x7E00u : 0x7C00u;
  } else if (f < (113u << 23)) {        // result is subnormal or zero: let the FPU round at 2^-24
    const uint32_t magic = 126u << 23;  // 0.5: adding it aligns the half subnormal ulp
    out = f32_bits(f32_from_bits(f) + f32_from_bits(magic)) - magic;
  } else {
    const uint32_t mant_odd = (f >> 13) & 1u;
    f += (static_cast<uint32_t>(15 - 127) << 23) + 0xFFFu + mant_odd;
    out = f >> 13;  // a carry into the exponent rounds up to the next binade or to inf
  }
  return static_cast<uint16_t>(out | (sign >> 16));
}

inline float bf16_to_float(uint16_t b) { return f32_from_bits(static_cast<uint32_t>(b) << 16); }

// Callers keep NaN inputs out (a NaN logit is never rewritten), so no NaN case here.
inline uint16_t float_to_bf16(float value) {
  const uint32_t u = f32_bits(value);
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace tokenmark::cpu
