// apply_ginsew_ on the CPU: two passes over each row. Pass 1 keeps, per group, a running maximum
// and sum of exp(x - max) (chunk by chunk, merged online); pass 2 writes the log-probabilities.
// The group split depends on the key and the fraction only (not on the context), so its flags
// are computed once per call into a byte per token id and shared by every row with that key and
// threshold (the usual case: one key per batch); a row with its own key computes its own.
// The AVX2 path (float32 arithmetic, a Cephes-style exp within 2 ulp) runs where the CPU has it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu_features.h"
#include "float16.h"
#include "ginsew_cpu.h"
#include "prf_row.h"  // load_logit
#if defined(__x86_64__)
#include "simd_avx2.h"
#endif

namespace tokenmark::cpu {
namespace {

// Token ids per chunk of pass 1 (its values stay in L1). A multiple of 32 (AVX2 flag steps).
constexpr int64_t kChunk = 1024;
constexpr int64_t kParallelMin = 1 << 13;

inline void store(void* row, LogitsDtype dtype, int64_t c, float v) {
  if (dtype == kFloat32) {
    static_cast<float*>(row)[c] = v;
  } else if (dtype == kFloat16) {
    static_cast<uint16_t*>(row)[c] = float_to_half(v);
  } else {
    static_cast<uint16_t*>(row)[c] = float_to_bf16(v);  // v is finite here: never NaN
  }
}

// Flags of token ids [c0, c0 + n), c0 a multiple of 4: 1 where the id is in G0.
void flags_scalar(const GinsewRowParams& p, int64_t c0, int64_t n, uint8_t* g) {
  for (int64_t j = 0; j < n; j += 4) {
    const U32x4 w = prf_block(p.key, 0u, static_cast<uint32_t>((c0 + j) >> 2), kDomainGinsewGroup);
    const int64_t m = std::min<int64_t>(4, n - j);
    for (int64_t q = 0; q < m; ++q) g[j + q] = ginsew_in_g0(w.v[q], p.threshold) ? 1 : 0;
  }
}

// Pass 1 over buf[0, n) (finite values, the rest -inf): chunk maxima and exp sums per group.
void chunk_stats_scalar(const float* buf, const uint8_t* g, int64_t n, float* cm0, float* cm1,
                        double* cs0, double* cs1) {
  float m0 = -INFINITY, m1 = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    if (g[j]) {
      m0 = std::max(m0, buf[j]);
    } else {
      m1 = std::max(m1, buf[j]);
    }
  }
  double s0 = 0.0, s1 = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    if (buf[j] == -INFINITY) continue;
    if (g[j]) {
      s0 += expf(buf[j] - m0);
    } else {
      s1 += expf(buf[j] - m1);
    }
  }
  *cm0 = m0;
  *cm1 = m1;
  *cs0 = s0;
  *cs1 = s1;
}

#if defined(__x86_64__)
using namespace avx2;

// Flags of ids [c, c + 32) as bytes, c a multiple of 32: eight Philox blocks, transposed into
// token order (lane i of word r belongs to id 4 i + r).
TM_AVX2 void flags32(const GinsewRowParams& p, int64_t c, uint8_t* g) {
  const __m256i blocks = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(c >> 2)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const V4 w = philox8(blocks, _mm256_setzero_si256(),
                       _mm256_set1_epi32(static_cast<int>(p.key.k[2] ^ kDomainGinsewGroup)),
                       _mm256_set1_epi32(static_cast<int>(p.key.k[3])), p.key.k[0], p.key.k[1]);
  const __m256i thr = _mm256_set1_epi32(static_cast<int>(p.threshold));
  const __m256i m0 = lt_epu32(w.c0, thr), m1 = lt_epu32(w.c1, thr);
  const __m256i m2 = lt_epu32(w.c2, thr), m3 = lt_epu32(w.c3, thr);
  const __m256i a = _mm256_unpacklo_epi32(m0, m1), b = _mm256_unpacklo_epi32(m2, m3);
  const __m256i cc = _mm256_unpackhi_epi32(m0, m1), d = _mm256_unpackhi_epi32(m2, m3);
  const __m256i x0 = _mm256_unpacklo_epi64(a, b), x1 = _mm256_unpackhi_epi64(a, b);
  const __m256i x2 = _mm256_unpacklo_epi64(cc, d), x3 = _mm256_unpackhi_epi64(cc, d);
  const __m256i t0 = _mm256_permute2x128_si256(x0, x1, 0x20);  // ids c .. c + 7
  const __m256i t1 = _mm256_permute2x128_si256(x2, x3, 0x20);
  const __m256i t2 = _mm256_permute2x128_si256(x0, x1, 0x31);
  const __m256i t3 = _mm256_permute2x128_si256(x2, x3, 0x31);
  // All-ones lanes -> bytes 1: pack 32 -> 16 -> 8 bits (packs keep order within 128-bit halves).
  const __m256i p01 = _mm256_packs_epi32(t0, t1), p23 = _mm256_packs_epi32(t2, t3);
  __m256i bytes = _mm256_packs_epi16(p01, p23);
  bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(g), _mm256_and_si256(bytes, _mm256_set1_epi8(1)));
}

// exp(y) for y <= 0 in eight lanes (Cephes expf: within 2 ulp); 0 below -87.3.
TM_AVX2 inline __m256 exp8(__m256 y) {
  const __m256 lo = _mm256_set1_ps(-87.3f);
  const __m256 under = _mm256_cmp_ps(y, lo, _CMP_LT_OQ);
  y = _mm256_max_ps(y, lo);
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), y);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 q = _mm256_set1_ps(1.9875691500e-4f);
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.3981999507e-3f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(8.3334519073e-3f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.1665795894e-2f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.6666665459e-1f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(5.0000001201e-1f));
  q = _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(q, _mm256_castsi256_ps(e)));
}

TM_AVX2 inline __m256 g0_mask8(const uint8_t* g) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(g));
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_cvtepu8_epi32(b), _mm256_setzero_si256()));
}

TM_AVX2 inline double hsum8(__m256 v) {
  alignas(32) float f[8];
  _mm256_store_ps(f, v);
  double s = 0.0;
  for (float x : f) s += x;
  return s;
}

// chunk_stats_scalar on eight lanes; n a multiple of 8.
TM_AVX2 void chunk_stats_avx2(const float* buf, const uint8_t* g, int64_t n, float* cm0, float* cm1,
                              double* cs0, double* cs1) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 m0 = ninf, m1 = ninf;
  for (int64_t j = 0; j < n; j += 8) {
    const __m256 x = _mm256_loadu_ps(buf + j);
    const __m256 in0 = g0_mask8(g + j);
    m0 = _mm256_max_ps(m0, _mm256_blendv_ps(ninf, x, in0));
    m1 = _mm256_max_ps(m1, _mm256_blendv_ps(x, ninf, in0));
  }
  const float f0 = hmax8(m0), f1 = hmax8(m1);
  const __m256 b0 = _mm256_set1_ps(f0), b1 = _mm256_set1_ps(f1);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (int64_t j = 0; j < n; j += 8) {
    const __m256 x = _mm256_loadu_ps(buf + j);
    const __m256 in0 = g0_mask8(g + j);
    const __m256 fin = _mm256_cmp_ps(x, ninf, _CMP_NEQ_OQ);
    const __m256 e = _mm256_and_ps(fin, exp8(_mm256_sub_ps(x, _mm256_blendv_ps(b1, b0, in0))));
    s0 = _mm256_add_ps(s0, _mm256_and_ps(in0, e));
    s1 = _mm256_add_ps(s1, _mm256_andnot_ps(in0, e));
  }
  *cm0 = f0;
  *cm1 = f1;
  *cs0 = hsum8(s0);
  *cs1 = hsum8(s1);
}

// Pass 2 on float32 ids [c0, c0 + n), n a multiple of 8: finite entries rewritten, others kept.
TM_AVX2 void write_f32_avx2(float* row, const uint8_t* g, int64_t n, float m0, float m1, float off0,
                            float off1) {
  const __m256 vm0 = _mm256_set1_ps(m0), vm1 = _mm256_set1_ps(m1);
  const __m256 vo0 = _mm256_set1_ps(off0), vo1 = _mm256_set1_ps(off1);
  const __m256 inf = _mm256_set1_ps(INFINITY);
  for (int64_t j = 0; j < n; j += 8) {
    const __m256 x = _mm256_loadu_ps(row + j);
    const __m256 in0 = g0_mask8(g + j);
    const __m256 y = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_blendv_ps(vm1, vm0, in0)),
                                   _mm256_blendv_ps(vo1, vo0, in0));
    // |x| < inf is false for NaN and both infinities: those keep their bits.
    const __m256 abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    _mm256_storeu_ps(row + j, _mm256_blendv_ps(x, y, _mm256_cmp_ps(abs, inf, _CMP_LT_OQ)));
  }
}
#endif  // __x86_64__

#if defined(__x86_64__)
// Eight logits of any dtype as float32 (bfloat16 and float16 widen exactly).
TM_AVX2 inline __m256 load8(const void* row, LogitsDtype dtype, int64_t c) {
  if (dtype == kFloat32) return _mm256_loadu_ps(static_cast<const float*>(row) + c);
  const __m128i h =
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + c));
  if (dtype == kFloat16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

TM_AVX2 inline __m256 finite8(__m256 x) {
  const __m256 abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  return _mm256_cmp_ps(abs, _mm256_set1_ps(INFINITY), _CMP_LT_OQ);
}

// buf[0, n) = the chunk's values, non-finite ones as -inf; n a multiple of 8.
TM_AVX2 void load_chunk_avx2(const void* row, LogitsDtype dtype, int64_t c0, int64_t n,
                             float* buf) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n; j += 8) {
    const __m256 x = load8(row, dtype, c0 + j);
    _mm256_storeu_ps(buf + j, _mm256_blendv_ps(ninf, x, finite8(x)));
  }
}

// Pass 2 on 16-bit logits [0, n), n a multiple of 8: round to nearest even, others kept.
TM_AVX2 void write_16_avx2(uint16_t* row, LogitsDtype dtype, const uint8_t* g, int64_t n, float m0,
                           float m1, float off0, float off1) {
  const __m256 vm0 = _mm256_set1_ps(m0), vm1 = _mm256_set1_ps(m1);
  const __m256 vo0 = _mm256_set1_ps(off0), vo1 = _mm256_set1_ps(off1);
  for (int64_t j = 0; j < n; j += 8) {
    __m128i* ptr = reinterpret_cast<__m128i*>(row + j);
    const __m128i h = _mm_loadu_si128(ptr);
    const __m256 x = load8(row, dtype, j);
    const __m256 in0 = g0_mask8(g + j);
    const __m256 fin = finite8(x);
    // Non-finite lanes compute from 0 (never NaN) and are then not written.
    const __m256 xs = _mm256_and_ps(fin, x);
    const __m256 y = _mm256_sub_ps(_mm256_sub_ps(xs, _mm256_blendv_ps(vm1, vm0, in0)),
                                   _mm256_blendv_ps(vo1, vo0, in0));
    __m128i out;
    if (dtype == kFloat16) {
      out = _mm256_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT);
    } else {
      const __m256i u = _mm256_castps_si256(y);
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
      const __m256i r = _mm256_srli_epi32(
          _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), lsb)), 16);
      out = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08));
    }
    const __m256i fi = _mm256_castps_si256(fin);
    const __m128i mask16 =
        _mm_packs_epi32(_mm256_castsi256_si128(fi), _mm256_extracti128_si256(fi, 1));
    _mm_storeu_si128(ptr, _mm_blendv_epi8(h, out, mask16));
  }
}
#endif  // __x86_64__

void compute_flags(const GinsewRowParams& p, int64_t vocab, uint8_t* g) {
  int64_t c = 0;
#if defined(__x86_64__)
  if (simd_enabled()) {
    for (; c + 32 <= vocab; c += 32) flags32(p, c, g + c);
  }
#endif
  if (c < vocab) flags_scalar(p, c, vocab - c, g + c);
}

struct FlagsCache {
  uint32_t key[4] = {0, 0, 0, 0};
  uint32_t threshold = 0;  // 0: empty (valid thresholds are >= 1)
  std::vector<uint8_t> flags;

  bool holds(const GinsewRowParams& p, int64_t vocab) const {
    return threshold == p.threshold && static_cast<int64_t>(flags.size()) == vocab &&
           std::memcmp(key, p.key.k, sizeof(key)) == 0;
  }
  void fill(const GinsewRowParams& p, int64_t vocab) {
    flags.resize(static_cast<size_t>(vocab));
    compute_flags(p, vocab, flags.data());
    std::memcpy(key, p.key.k, sizeof(key));
    threshold = p.threshold;
  }
};

void apply_row(const GinsewArgs& a, const GinsewRowParams& p, const uint8_t* flags, int64_t row) {
  const int64_t esize = a.dtype == kFloat32 ? 4 : 2;
  char* base = static_cast<char*>(a.logits) + row * a.logits_row_stride * esize;
  float buf[kChunk];
#if defined(__x86_64__)
  const bool simd = simd_enabled();
#endif
  float m0 = -INFINITY, m1 = -INFINITY;
  double s0 = 0.0, s1 = 0.0;
  for (int64_t c0 = 0; c0 < a.vocab; c0 += kChunk) {
    const int64_t n = std::min(kChunk, a.vocab - c0);
    int64_t j0 = 0;
#if defined(__x86_64__)
    if (simd) {
      j0 = n / 8 * 8;
      load_chunk_avx2(base, a.dtype, c0, j0, buf);
    }
#endif
    for (int64_t j = j0; j < n; ++j) {
      const float x = load_logit(base, a.dtype, c0 + j);
      buf[j] = std::isfinite(x) ? x : -INFINITY;  // NaN and +inf take no part in the sums
    }
    float cm0, cm1;
    double cs0, cs1;
#if defined(__x86_64__)
    if (simd && n % 8 == 0) {
      chunk_stats_avx2(buf, flags + c0, n, &cm0, &cm1, &cs0, &cs1);
    } else {
      chunk_stats_scalar(buf, flags + c0, n, &cm0, &cm1, &cs0, &cs1);
    }
#else
    chunk_stats_scalar(buf, flags + c0, n, &cm0, &cm1, &cs0, &cs1);
#endif
    ginsew_merge(&m0, &s0, cm0, cs0);
    ginsew_merge(&m1, &s1, cm1, cs1);
  }
  if (m0 == -INFINITY && m1 == -INFINITY) return;  // no finite logit: the row stays as it is
  double c0d, c1d;
  ginsew_offsets(p, m0, s0, m1, s1, &c0d, &c1d);
  const float off0 = static_cast<float>(c0d), off1 = static_cast<float>(c1d);
  int64_t c = 0;
#if defined(__x86_64__)
  if (simd) {
    c = a.vocab / 8 * 8;
    if (a.dtype == kFloat32) {
      write_f32_avx2(reinterpret_cast<float*>(base), flags, c, m0, m1, off0, off1);
    } else {
      write_16_avx2(reinterpret_cast<uint16_t*>(base), a.dtype, flags, c, m0, m1, off0, off1);
    }
  }
#endif
  for (; c < a.vocab; ++c) {
    const float x = load_logit(base, a.dtype, c);
    if (!std::isfinite(x)) continue;  // -inf stays -inf, NaN stays NaN, +inf stays
    store(base, a.dtype, c, flags[c] ? (x - m0) - off0 : (x - m1) - off1);
  }
}

inline GinsewRowParams row_params(const GinsewArgs& a, int64_t b) {
  return a.ids_is_int64 ? ginsew_row_params<int64_t>(a, b) : ginsew_row_params<int32_t>(a, b);
}

}  // namespace

void apply_ginsew_(const GinsewArgs& a) {
  if (a.batch == 0 || a.vocab == 0) return;
  // The split of row 0's key and threshold, shared by every row that has the same ones. The
  // calling thread keeps the last split it made: a decode loop (one key, one vocabulary) then
  // computes it once, not once per step.
  const GinsewRowParams p0 = row_params(a, 0);
  thread_local FlagsCache cache;
  if (!cache.holds(p0, a.vocab)) cache.fill(p0, a.vocab);
  const std::vector<uint8_t>& shared = cache.flags;
  const bool parallel = a.batch > 1 && a.batch * a.vocab >= kParallelMin;
#pragma omp parallel if (parallel)
  {
    std::vector<uint8_t> own;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < a.batch; ++b) {
      const GinsewRowParams p = row_params(a, b);
      const uint8_t* flags = shared.data();
      if (p.threshold != p0.threshold || std::memcmp(p.key.k, p0.key.k, sizeof(p.key.k)) != 0) {
        own.resize(static_cast<size_t>(a.vocab));
        compute_flags(p, a.vocab, own.data());
        flags = own.data();
      }
      apply_row(a, p, flags, b);
    }
  }
}

void ginsew_group_flags(const uint32_t key[4], uint32_t threshold, int64_t vocab, uint8_t* out) {
  GinsewRowParams p{};
  p.key = Key128{{key[0], key[1], key[2], key[3]}};
  p.threshold = threshold;
  compute_flags(p, vocab, out);
}

void ginsew_times(const GinsewArgs& a, double* out) {
  for (int64_t b = 0; b < a.batch; ++b) {
    const GinsewRowParams p = row_params(a, b);
    out[b] = p.timed ? p.t : std::numeric_limits<double>::quiet_NaN();
  }
}

}  // namespace tokenmark::cpu
