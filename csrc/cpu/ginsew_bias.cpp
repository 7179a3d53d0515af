// apply_ginsew_ on the CPU: two passes over each row. Pass 1 keeps, per group, a running maximum
// and sum of exp(x - max) (chunk by chunk, merged online); pass 2 writes the log-probabilities.
// The group flags come from the PRF in both passes (V / 4 Philox calls each): cheaper than a
// V-sized flag buffer per row at large vocabularies, and the same lines as the CUDA kernel.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "float16.h"
#include "ginsew_cpu.h"

namespace tokenmark::cpu {
namespace {

// Token ids per chunk of pass 1: its flags and values stay in L1. A multiple of 4 (PRF blocks).
constexpr int64_t kChunk = 1024;
constexpr int64_t kParallelMin = 1 << 13;

inline float load(const void* row, LogitsDtype dtype, int64_t c) {
  if (dtype == kFloat32) return static_cast<const float*>(row)[c];
  const uint16_t h = static_cast<const uint16_t*>(row)[c];
  return dtype == kFloat16 ? half_to_float(h) : bf16_to_float(h);
}

inline void store(void* row, LogitsDtype dtype, int64_t c, float v) {
  if (dtype == kFloat32) {
    static_cast<float*>(row)[c] = v;
  } else if (dtype == kFloat16) {
    static_cast<uint16_t*>(row)[c] = float_to_half(v);
  } else {
    static_cast<uint16_t*>(row)[c] = float_to_bf16(v);  // v is finite here: never NaN
  }
}

// Flags of token ids [c0, c0 + n), c0 a multiple of 4.
inline void chunk_flags(const GinsewRowParams& p, int64_t c0, int64_t n, uint8_t* g) {
  for (int64_t j = 0; j < n; j += 4) {
    const U32x4 w = prf_block(p.key, 0u, static_cast<uint32_t>((c0 + j) >> 2), kDomainGinsewGroup);
    const int64_t m = std::min<int64_t>(4, n - j);
    for (int64_t q = 0; q < m; ++q) g[j + q] = ginsew_in_g0(w.v[q], p.threshold) ? 1 : 0;
  }
}

void apply_row(const GinsewArgs& a, const GinsewRowParams& p, int64_t row) {
  const int64_t esize = a.dtype == kFloat32 ? 4 : 2;
  char* base = static_cast<char*>(a.logits) + row * a.logits_row_stride * esize;
  float buf[kChunk];
  uint8_t g[kChunk];
  float m0 = -INFINITY, m1 = -INFINITY;
  double s0 = 0.0, s1 = 0.0;
  for (int64_t c0 = 0; c0 < a.vocab; c0 += kChunk) {
    const int64_t n = std::min(kChunk, a.vocab - c0);
    chunk_flags(p, c0, n, g);
    float cm0 = -INFINITY, cm1 = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      const float x = load(base, a.dtype, c0 + j);
      buf[j] = std::isfinite(x) ? x : -INFINITY;  // NaN and +inf take no part in the sums
      if (g[j]) {
        cm0 = std::max(cm0, buf[j]);
      } else {
        cm1 = std::max(cm1, buf[j]);
      }
    }
    double cs0 = 0.0, cs1 = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      if (buf[j] == -INFINITY) continue;
      if (g[j]) {
        cs0 += expf(buf[j] - cm0);
      } else {
        cs1 += expf(buf[j] - cm1);
      }
    }
    ginsew_merge(&m0, &s0, cm0, cs0);
    ginsew_merge(&m1, &s1, cm1, cs1);
  }
  if (m0 == -INFINITY && m1 == -INFINITY) return;  // no finite logit: the row stays as it is
  double c0d, c1d;
  ginsew_offsets(p, m0, s0, m1, s1, &c0d, &c1d);
  const float off0 = static_cast<float>(c0d), off1 = static_cast<float>(c1d);
  for (int64_t c0 = 0; c0 < a.vocab; c0 += kChunk) {
    const int64_t n = std::min(kChunk, a.vocab - c0);
    chunk_flags(p, c0, n, g);
    for (int64_t j = 0; j < n; ++j) {
      const float x = load(base, a.dtype, c0 + j);
      if (!std::isfinite(x)) continue;  // -inf stays -inf, NaN stays NaN, +inf stays
      store(base, a.dtype, c0 + j, g[j] ? (x - m0) - off0 : (x - m1) - off1);
    }
  }
}

}  // namespace

void apply_ginsew_(const GinsewArgs& a) {
  if (a.batch == 0 || a.vocab == 0) return;
  const bool parallel = a.batch > 1 && a.batch * a.vocab >= kParallelMin;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t b = 0; b < a.batch; ++b) {
    const GinsewRowParams p =
        a.ids_is_int64 ? ginsew_row_params<int64_t>(a, b) : ginsew_row_params<int32_t>(a, b);
    apply_row(a, p, b);
  }
}

void ginsew_group_flags(const uint32_t key[4], uint32_t threshold, int64_t vocab, uint8_t* out) {
  GinsewRowParams p{};
  p.key = Key128{{key[0], key[1], key[2], key[3]}};
  p.threshold = threshold;
  for (int64_t c0 = 0; c0 < vocab; c0 += kChunk) {
    chunk_flags(p, c0, std::min(kChunk, vocab - c0), out + c0);
  }
}

void ginsew_times(const GinsewArgs& a, double* out) {
  for (int64_t b = 0; b < a.batch; ++b) {
    const GinsewRowParams p =
        a.ids_is_int64 ? ginsew_row_params<int64_t>(a, b) : ginsew_row_params<int32_t>(a, b);
    out[b] = p.timed ? p.t : std::numeric_limits<double>::quiet_NaN();
  }
}

}  // namespace tokenmark::cpu
