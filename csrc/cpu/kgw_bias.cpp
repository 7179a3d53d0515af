// apply_kgw_bias_ on the CPU: one pass over [batch, vocab] logits, rows split into column tiles
// over OpenMP threads; the AVX2 path draws 8 PRF blocks (32 token ids) per step.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu_features.h"
#include "float16.h"
#include "kgw_cpu.h"
#include "tokenmark/kgw.h"
#if defined(__x86_64__)
#include "simd_avx2.h"
#endif

namespace tokenmark::cpu {
namespace {

// Columns per task: large enough to amortise scheduling, small enough to split one long row
// (batch 1, vocab 150k) over both cores.
constexpr int64_t kTile = 8192;
// Below this many logits the threads cost more than they save.
constexpr int64_t kParallelMin = 1 << 13;

inline void bias_one(float* x, float delta) {
  if (!std::isnan(*x)) *x = *x + delta;
}
inline void bias_one_half(uint16_t* x, float delta) {
  const float f = half_to_float(*x);
  if (!std::isnan(f)) *x = float_to_half(f + delta);
}
inline void bias_one_bf16(uint16_t* x, float delta) {
  const float f = bf16_to_float(*x);
  if (!std::isnan(f)) *x = float_to_bf16(f + delta);
}

// Scalar columns [c0, c1) of one row; c0 is a multiple of 4.
void bias_cols_scalar(void* row, LogitsDtype dtype, const KgwRowParams& p, int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; c += 4) {
    const U32x4 w = prf_block(p.key, p.ctx, static_cast<uint32_t>(c >> 2), kDomainKgwGreen);
    const int64_t n = std::min<int64_t>(4, c1 - c);
    for (int64_t j = 0; j < n; ++j) {
      if (!kgw_is_green(w.v[j], p.threshold)) continue;
      if (dtype == kFloat32) {
        bias_one(static_cast<float*>(row) + c + j, p.delta);
      } else if (dtype == kFloat16) {
        bias_one_half(static_cast<uint16_t*>(row) + c + j, p.delta);
      } else {
        bias_one_bf16(static_cast<uint16_t*>(row) + c + j, p.delta);
      }
    }
  }
}

#if defined(__x86_64__)
using namespace avx2;

// Green masks of token ids [c, c + 32) in token order: four vectors of eight lanes.
TM_AVX2 inline void green_masks32(const KgwRowParams& p, int64_t c, __m256i out[4]) {
  const __m256i blocks = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(c >> 2)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const V4 w = philox8(blocks, _mm256_set1_epi32(static_cast<int>(p.ctx)),
                       _mm256_set1_epi32(static_cast<int>(p.key.k[2] ^ kDomainKgwGreen)),
                       _mm256_set1_epi32(static_cast<int>(p.key.k[3])), p.key.k[0], p.key.k[1]);
  const __m256i thr = _mm256_set1_epi32(static_cast<int>(p.threshold));
  const __m256i m0 = lt_epu32(w.c0, thr), m1 = lt_epu32(w.c1, thr);
  const __m256i m2 = lt_epu32(w.c2, thr), m3 = lt_epu32(w.c3, thr);
  // Transpose: lane i of m_r belongs to token 4 * i + r.
  const __m256i a = _mm256_unpacklo_epi32(m0, m1), b = _mm256_unpacklo_epi32(m2, m3);
  const __m256i cc = _mm256_unpackhi_epi32(m0, m1), d = _mm256_unpackhi_epi32(m2, m3);
  const __m256i x0 = _mm256_unpacklo_epi64(a, b), x1 = _mm256_unpackhi_epi64(a, b);
  const __m256i x2 = _mm256_unpacklo_epi64(cc, d), x3 = _mm256_unpackhi_epi64(cc, d);
  out[0] = _mm256_permute2x128_si256(x0, x1, 0x20);
  out[1] = _mm256_permute2x128_si256(x2, x3, 0x20);
  out[2] = _mm256_permute2x128_si256(x0, x1, 0x31);
  out[3] = _mm256_permute2x128_si256(x2, x3, 0x31);
}

TM_AVX2 void bias_cols_f32(float* row, const KgwRowParams& p, int64_t c0, int64_t c1) {
  const __m256 delta = _mm256_set1_ps(p.delta);
  for (int64_t c = c0; c < c1; c += 32) {
    __m256i m[4];
    green_masks32(p, c, m);
    for (int q = 0; q < 4; ++q) {
      float* ptr = row + c + 8 * q;
      const __m256 x = _mm256_loadu_ps(ptr);
      const __m256 keep_nan = _mm256_cmp_ps(x, x, _CMP_ORD_Q);  // false on NaN
      const __m256 mask = _mm256_and_ps(_mm256_castsi256_ps(m[q]), keep_nan);
      _mm256_storeu_ps(ptr, _mm256_blendv_ps(x, _mm256_add_ps(x, delta), mask));
    }
  }
}

// 32-bit lane masks -> 16-bit lane masks, in order.
TM_AVX2 inline __m128i narrow_mask(__m256i m) {
  return _mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
}

TM_AVX2 void bias_cols_f16(uint16_t* row, const KgwRowParams& p, int64_t c0, int64_t c1) {
  const __m256 delta = _mm256_set1_ps(p.delta);
  for (int64_t c = c0; c < c1; c += 32) {
    __m256i m[4];
    green_masks32(p, c, m);
    for (int q = 0; q < 4; ++q) {
      __m128i* ptr = reinterpret_cast<__m128i*>(row + c + 8 * q);
      const __m128i h = _mm_loadu_si128(ptr);
      const __m256 x = _mm256_cvtph_ps(h);
      const __m256i ord = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_ORD_Q));
      const __m128i mask = narrow_mask(_mm256_and_si256(m[q], ord));
      const __m128i y = _mm256_cvtps_ph(_mm256_add_ps(x, delta), _MM_FROUND_TO_NEAREST_INT);
      _mm_storeu_si128(ptr, _mm_blendv_epi8(h, y, mask));
    }
  }
}

TM_AVX2 void bias_cols_bf16(uint16_t* row, const KgwRowParams& p, int64_t c0, int64_t c1) {
  const __m256 delta = _mm256_set1_ps(p.delta);
  const __m256i round_base = _mm256_set1_epi32(0x7FFF);
  const __m256i one = _mm256_set1_epi32(1);
  for (int64_t c = c0; c < c1; c += 32) {
    __m256i m[4];
    green_masks32(p, c, m);
    for (int q = 0; q < 4; ++q) {
      __m128i* ptr = reinterpret_cast<__m128i*>(row + c + 8 * q);
      const __m128i h = _mm_loadu_si128(ptr);
      const __m256 x = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
      const __m256i ord = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_ORD_Q));
      const __m128i mask = narrow_mask(_mm256_and_si256(m[q], ord));
      const __m256i u = _mm256_castps_si256(_mm256_add_ps(x, delta));
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
      const __m256i r =
          _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(round_base, lsb)), 16);
      const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
      _mm_storeu_si128(ptr, _mm_blendv_epi8(h, _mm256_castsi256_si128(packed), mask));
    }
  }
}
#endif  // __x86_64__

void bias_tile(const KgwBiasArgs& a, const KgwRowParams& p, int64_t row, int64_t c0, int64_t c1) {
  const int64_t esize = a.dtype == kFloat32 ? 4 : 2;
  char* base = static_cast<char*>(a.logits) + row * a.logits_row_stride * esize;
  int64_t c = c0;
#if defined(__x86_64__)
  if (simd_enabled()) {
    const int64_t vec_end = c0 + ((c1 - c0) / 32) * 32;
    if (vec_end > c0) {
      if (a.dtype == kFloat32) {
        bias_cols_f32(reinterpret_cast<float*>(base), p, c0, vec_end);
      } else if (a.dtype == kFloat16) {
        bias_cols_f16(reinterpret_cast<uint16_t*>(base), p, c0, vec_end);
      } else {
        bias_cols_bf16(reinterpret_cast<uint16_t*>(base), p, c0, vec_end);
      }
    }
    c = vec_end;
  }
#endif
  if (c < c1) bias_cols_scalar(base, a.dtype, p, c, c1);
}

}  // namespace

void apply_kgw_bias_(const KgwBiasArgs& a) {
  if (a.batch == 0 || a.vocab == 0) return;
  // The calling thread's scratch, kept with its capacity: a decode step allocates nothing. The
  // OpenMP workers read it through the reference (each thread_local name is per thread).
  thread_local std::vector<KgwRowParams> rows_scratch;
  std::vector<KgwRowParams>& rows = rows_scratch;
  rows.resize(static_cast<size_t>(a.batch));
  for (int64_t b = 0; b < a.batch; ++b) {
    rows[static_cast<size_t>(b)] =
        a.ids_is_int64 ? kgw_row_params<int64_t>(a, b) : kgw_row_params<int32_t>(a, b);
  }
  const int64_t tiles_per_row = (a.vocab + kTile - 1) / kTile;
  const int64_t n_tasks = a.batch * tiles_per_row;
  const bool parallel = a.batch * a.vocab >= kParallelMin;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < n_tasks; ++t) {
    const int64_t row = t / tiles_per_row;
    const KgwRowParams& p = rows[static_cast<size_t>(row)];
    if (!p.active) continue;
    const int64_t c0 = (t % tiles_per_row) * kTile;
    bias_tile(a, p, row, c0, std::min(a.vocab, c0 + kTile));
  }
}

}  // namespace tokenmark::cpu
