// sample_synthid on the CPU: per row, softmax weights over the candidates (the vocabulary or its
// top-k), the 2-leaf tournament in closed form for `layers` layers, then one inverse-CDF draw
// with the caller's uniform. Fused: the g-values of a token are the bits of one PRF word, drawn
// once per row into a [vocab] uint32 scratch, and the layers run in phases of 10: one pass over
// the [vocab] float64 weights per phase bins them by the phase's g-values, and the 1024 bins
// give the phase's factors; nothing of size [vocab, layers] exists. Rows run in parallel.
//
// Sums are exact uint64 fixed-point sums (docs/prf.md, "Sampling"), so the result does not
// depend on the order: the CUDA kernel, which sums in parallel, and numpy agree bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu_features.h"
#include "prf_row.h"
#include "synthid_cpu.h"
#include "tokenmark/synthid.h"
#if defined(__x86_64__)
#include "simd_avx2.h"
#endif

namespace tokenmark::cpu {
namespace {

// The factors F[q] of one phase from its histogram `hist` [2^bits]: per layer j of the phase, E
// from the tree sums of the marginal's even (g_j = 0) and odd (g_j = 1) entries, then the marginal
// over the bits still to play; F[q] multiplies the factors of q's bits, layer 0 of the phase
// first. The same operations in the same order as the spec (and the CUDA kernel, in parallel).
void phase_factors(const uint64_t* hist, int bits, double* f /* [2^bits] */) {
  double a[kSynthIdBins], t[kSynthIdBins / 2];
  SynthIdFactors c[kSynthIdPhaseBits];
  int n = 1 << bits;
  for (int q = 0; q < n; ++q) a[q] = static_cast<double>(hist[q]);
  for (int j = 0; j < bits; ++j, n /= 2) {
    double s[2];
    for (int g = 0; g < 2; ++g) {
      for (int i = 0; i < n / 2; ++i) t[i] = a[2 * i + g];
      for (int len = n / 2; len > 1; len /= 2) {
        for (int i = 0; i < len / 2; ++i) t[i] = t[2 * i] + t[2 * i + 1];  // i <= 2i: in place
      }
      s[g] = t[0];
    }
    c[j] = synthid_factors(synthid_expected(s[0], s[1]));
    for (int i = 0; i < n / 2; ++i) a[i] = c[j].c[0] * a[2 * i] + c[j].c[1] * a[2 * i + 1];
  }
  // F[q] = ((1 * c_0[q_0]) * c_1[q_1]) * ... in that order, built by doubling: the entries of
  // q < 2^(j+1) are those of q mod 2^j times c_j[q_j] (2^(bits+1) multiplies, not bits * 2^bits).
  f[0] = 1.0;
  for (int j = 0; j < bits; ++j) {
    const int half = 1 << j;
    for (int q = half; q < 2 * half; ++q) f[q] = f[q - half] * c[j].c[1];
    for (int q = 0; q < half; ++q) f[q] *= c[j].c[0];
  }
}

#if defined(__x86_64__)
// phase_factors with AVX2, the same operations in the same order. The even and odd entries of a
// marginal interleave, so one level of both tree sums is out[2k + g] = in[4k + g] + in[4k + 2 + g]
// (128-bit halves added), which leaves them interleaved again; levels run in place until the
// two sums are t[0], t[1]. The next marginal takes c0 * (entries 0, 2, 4, 6) + c1 * (1, 3, 5, 7).
TM_AVX2 void phase_factors_avx2(const uint64_t* hist, int bits, double* f /* [2^bits] */) {
  alignas(32) double a[kSynthIdBins], t[kSynthIdBins];
  SynthIdFactors c[kSynthIdPhaseBits];
  int n = 1 << bits;
  // Sums of fixed-point weights are < 2^62: as int64 the conversion rounds the same.
  for (int q = 0; q < n; ++q) a[q] = static_cast<double>(static_cast<int64_t>(hist[q]));
  for (int j = 0; j < bits; ++j, n /= 2) {
    int len = n;
    const double* in = a;
    for (; len >= 8; len /= 2, in = t) {
      for (int k = 0; k < len; k += 8) {
        const __m256d v0 = _mm256_load_pd(in + k), v1 = _mm256_load_pd(in + k + 4);
        _mm256_store_pd(t + k / 2, _mm256_add_pd(_mm256_permute2f128_pd(v0, v1, 0x20),
                                                 _mm256_permute2f128_pd(v0, v1, 0x31)));
      }
    }
    double s0 = in[0], s1 = in[1];  // len 2
    if (len == 4) {
      s0 = in[0] + in[2];
      s1 = in[1] + in[3];
    }
    c[j] = synthid_factors(synthid_expected(s0, s1));
    int i = 0;
    if (n >= 8) {
      const __m256d c0 = _mm256_set1_pd(c[j].c[0]), c1 = _mm256_set1_pd(c[j].c[1]);
      for (; 2 * i + 8 <= n; i += 4) {  // writes a[i .. i + 3] after reading a[2i .. 2i + 7]
        const __m256d v0 = _mm256_load_pd(a + 2 * i), v1 = _mm256_load_pd(a + 2 * i + 4);
        const __m256d even = _mm256_permute4x64_pd(_mm256_unpacklo_pd(v0, v1), 0xD8);
        const __m256d odd = _mm256_permute4x64_pd(_mm256_unpackhi_pd(v0, v1), 0xD8);
        _mm256_store_pd(a + i, _mm256_add_pd(_mm256_mul_pd(c0, even), _mm256_mul_pd(c1, odd)));
      }
    }
    for (; i < n / 2; ++i) a[i] = c[j].c[0] * a[2 * i] + c[j].c[1] * a[2 * i + 1];
  }
  f[0] = 1.0;
  for (int j = 0; j < bits; ++j) {  // as phase_factors: the upper half first
    const int half = 1 << j;
    int q = 0;
    const __m256d c0 = _mm256_set1_pd(c[j].c[0]), c1 = _mm256_set1_pd(c[j].c[1]);
    for (; q + 4 <= half; q += 4) {
      const __m256d lo = _mm256_loadu_pd(f + q);
      _mm256_storeu_pd(f + half + q, _mm256_mul_pd(lo, c1));
      _mm256_storeu_pd(f + q, _mm256_mul_pd(lo, c0));
    }
    for (; q < half; ++q) {
      f[half + q] = f[q] * c[j].c[1];
      f[q] *= c[j].c[0];
    }
  }
}
#endif

// The g-value bits of layers start .. start+bits-1 of a token: its histogram bin in that phase.
inline uint32_t phase_bin(uint32_t word, int start, int bits) {
  return (word >> start) & ((1u << bits) - 1u);
}

// One pass over the weights: multiplies each by the factor `f` of its bin in the phase at
// `start` (when f is set), adds its fixed-point value into its bin of the next phase in `hist`
// (when set) or else keeps it in `fixed` (the last pass: the draw reads them), and returns the
// fixed-point total.
uint64_t weight_pass(double* w, const uint32_t* words, int64_t n, const double* f, int start,
                     int bits, uint64_t* hist, int next_start, int next_bits, double scale,
                     uint64_t* fixed) {
  uint64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    double x = w[i];
    if (f) w[i] = x = x * f[phase_bin(words[i], start, bits)];
    const uint64_t v = synthid_fixed(x, scale);
    if (hist) {
      hist[phase_bin(words[i], next_start, next_bits)] += v;
    } else {
      fixed[i] = v;
    }
    total += v;
  }
  return total;
}

// The tournament over `layers` layers in phases of up to kSynthIdPhaseBits; returns the
// fixed-point total of the final weights, whose fixed-point values it leaves in `fixed`.
uint64_t tournament(double* w, const uint32_t* words, int64_t n, int layers, double scale,
                    uint64_t* fixed, bool simd) {
  uint64_t hist[kSynthIdBins] = {};
  double f[kSynthIdBins];
  weight_pass(w, words, n, nullptr, 0, 0, hist, 0, std::min(kSynthIdPhaseBits, layers), scale,
              nullptr);
  uint64_t total = 0;
  for (int start = 0; start < layers; start += kSynthIdPhaseBits) {
    const int bits = std::min(kSynthIdPhaseBits, layers - start);
    const int next = start + kSynthIdPhaseBits;
    const int next_bits = next < layers ? std::min(kSynthIdPhaseBits, layers - next) : 0;
    synthid_phase_factors(hist, bits, f, simd);
    std::fill(hist, hist + kSynthIdBins, uint64_t{0});
    total = weight_pass(w, words, n, f, start, bits, next_bits ? hist : nullptr, next, next_bits,
                        scale, fixed);
  }
  return total;
}

// The first candidate whose running sum of fixed-point weights `fixed` exceeds the draw's
// target (< total, so one does).
int64_t inverse_cdf(const uint64_t* fixed, int64_t n, double r, uint64_t total) {
  const uint64_t target = synthid_draw_target(total, r);
  uint64_t c = 0;
  for (int64_t i = 0; i < n; ++i) {
    c += fixed[i];
    if (c > target) return i;
  }
  return n - 1;
}

#if defined(__x86_64__)
// synthid_base_weight on four lanes: the same multiplies and adds as synthid_exp, lane by lane.
TM_AVX2 inline __m256d base_weight4(__m128 xf, __m256d m) {
  const __m256d x = _mm256_cvtps_pd(xf);
  const __m256d y = _mm256_sub_pd(x, m);
  const __m256d k = _mm256_round_pd(_mm256_mul_pd(y, _mm256_set1_pd(kLog2e)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256d r = _mm256_sub_pd(_mm256_sub_pd(y, _mm256_mul_pd(k, _mm256_set1_pd(kLn2Hi))),
                                  _mm256_mul_pd(k, _mm256_set1_pd(kLn2Lo)));
  const double c[] = {kExpC13, kExpC12, kExpC11, kExpC10, kExpC9, kExpC8, kExpC7,
                      kExpC6,  kExpC5,  kExpC4,  kExpC3,  kExpC2, 1.0,    1.0};
  __m256d p = _mm256_set1_pd(c[0]);
  for (int i = 1; i < 14; ++i) p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(c[i]));
  // 2^k from its exponent bits (k >= -1010 wherever the result is kept: a normal number).
  const __m256i ki = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(k));
  const __m256i bits = _mm256_slli_epi64(_mm256_add_epi64(ki, _mm256_set1_epi64x(1023)), 52);
  __m256d w = _mm256_mul_pd(p, _mm256_castsi256_pd(bits));
  w = _mm256_and_pd(w, _mm256_cmp_pd(y, _mm256_set1_pd(kExpCutoff), _CMP_GE_OQ));
  w = _mm256_blendv_pd(w, _mm256_set1_pd(1.0), _mm256_cmp_pd(x, m, _CMP_EQ_OQ));
  const __m256d ninf = _mm256_set1_pd(-std::numeric_limits<double>::infinity());
  return _mm256_and_pd(w, _mm256_cmp_pd(x, ninf, _CMP_GT_OQ));
}

TM_AVX2 int64_t base_weights_avx2(const float* x, int64_t n, double m, double* w) {
  const __m256d vm = _mm256_set1_pd(m);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(w + i, base_weight4(_mm_loadu_ps(x + i), vm));
  return i;
}

// The largest of x[0 .. n) (no NaN: gather_candidates made them -inf), eight lanes at a time; a
// tie of -0 and +0 may come back as either, which base weights treat alike (x == m is a zero).
TM_AVX2 float row_max_avx2(const float* x, int64_t n) {
  __m256 m0 = _mm256_set1_ps(-std::numeric_limits<float>::infinity()), m1 = m0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
  }
  float mx = avx2::hmax8(_mm256_max_ps(m0, m1));
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}
#endif

float row_max(const float* x, int64_t n, bool simd) {
#if defined(__x86_64__)
  if (simd) return row_max_avx2(x, n);
#endif
  (void)simd;
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}

void base_weights(const float* x, int64_t n, float mx, double* w, bool simd) {
  const double m = mx;
  int64_t i = 0;
#if defined(__x86_64__)
  if (simd) i = base_weights_avx2(x, n, m, w);
#endif
  (void)simd;
  for (; i < n; ++i) w[i] = synthid_base_weight(x[i], m);
}

struct Scratch {
  std::vector<int32_t> cand;  // candidate token ids, ascending (top-k only)
  std::vector<double> w;
  std::vector<uint64_t> fixed;  // the final weights in fixed point
  std::vector<uint32_t> words;
  std::vector<float> x;
};

// Candidate logits into s.x (and ids into s.cand for top-k); returns the count.
int64_t gather_candidates(const void* row, LogitsDtype dtype, int64_t vocab, int64_t top_k,
                          Scratch& s) {
  s.x.resize(vocab);
  for (int64_t v = 0; v < vocab; ++v) {
    const float f = load_logit(row, dtype, v);
    s.x[v] = std::isnan(f) ? -std::numeric_limits<float>::infinity() : f;
  }
  if (top_k <= 0 || top_k >= vocab) return vocab;
  s.cand.resize(vocab);
  for (int64_t v = 0; v < vocab; ++v) s.cand[v] = static_cast<int32_t>(v);
  // The k largest logits, lower id first among equals, then back in id order.
  const auto better = [&](int32_t a, int32_t b) {
    return s.x[a] > s.x[b] || (s.x[a] == s.x[b] && a < b);
  };
  std::nth_element(s.cand.begin(), s.cand.begin() + (top_k - 1), s.cand.end(), better);
  s.cand.resize(top_k);
  std::sort(s.cand.begin(), s.cand.end());
  for (int64_t i = 0; i < top_k; ++i) s.x[i] = s.x[s.cand[i]];
  return top_k;
}

template <typename IdT>
bool row_context(const SynthIdSampleArgs& a, const IdT* ids, uint32_t* ctx) {
  if (a.ids_len < a.width) return false;
  if (a.history > 0 && context_repeated(ids, a.ids_len, a.width, a.seeding, a.history))
    return false;
  *ctx = context_hash(ids + a.ids_len - a.width, a.width, a.seeding);
  return true;
}

void sample_row(const SynthIdSampleArgs& a, int64_t b, bool simd, Scratch& s) {
  const void* row =
      static_cast<const char*>(a.logits) + b * a.logits_row_stride * (a.dtype == kFloat32 ? 4 : 2);
  const int64_t n = gather_candidates(row, a.dtype, a.vocab, a.top_k, s);
  const bool topk = n < a.vocab;
  const float mx = row_max(s.x.data(), n, simd);
  a.marked[b] = 0;
  if (!(mx > -std::numeric_limits<float>::infinity())) {
    a.out[b] = kNoFiniteLogit;
    return;
  }
  s.w.resize(n);
  s.fixed.resize(n);
  base_weights(s.x.data(), n, mx, s.w.data(), simd);
  uint32_t ctx = 0;
  const int64_t off = b * a.ids_row_stride;
  const bool on =
      (!a.enabled || a.enabled[b]) &&
      (a.ids_is_int64 ? row_context(a, static_cast<const int64_t*>(a.input_ids) + off, &ctx)
                      : row_context(a, static_cast<const int32_t*>(a.input_ids) + off, &ctx));
  const double scale = std::ldexp(1.0, synthid_fixed_shift(n));
  uint64_t total;
  if (on) {
    const Key128 key{{a.keys[b * a.key_stride], a.keys[b * a.key_stride + 1],
                      a.keys[b * a.key_stride + 2], a.keys[b * a.key_stride + 3]}};
    s.words.resize(n + kWordRun);
    if (topk) {
      for (int64_t i = 0; i < n; ++i) {
        s.words[i] = synthid_g_word(key, ctx, static_cast<uint32_t>(s.cand[i]));
      }
    } else {
      for (int64_t c = 0; c < n; c += kWordRun) {
        words32(key, ctx, c, kDomainSynthIdG, simd, s.words.data() + c);
      }
    }
    total = tournament(s.w.data(), s.words.data(), n, a.layers, scale, s.fixed.data(), simd);
    a.marked[b] = 1;
  } else {
    total =
        weight_pass(s.w.data(), nullptr, n, nullptr, 0, 0, nullptr, 0, 0, scale, s.fixed.data());
  }
  const int64_t i = inverse_cdf(s.fixed.data(), n, a.uniforms[b], total);
  a.out[b] = topk ? s.cand[i] : i;
}

}  // namespace

void synthid_phase_factors(const uint64_t* hist, int bits, double* f, bool simd) {
#if defined(__x86_64__)
  if (simd) return phase_factors_avx2(hist, bits, f);
#endif
  (void)simd;
  phase_factors(hist, bits, f);
}

void sample_synthid(const SynthIdSampleArgs& a) {
  const bool simd = simd_enabled();
#pragma omp parallel if (a.batch > 1 && a.batch * a.vocab >= 8192)
  {
    // Per-thread scratch that keeps its capacity (OpenMP threads persist): a decode step
    // allocates nothing.
    thread_local Scratch s;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < a.batch; ++b) sample_row(a, b, simd, s);
  }
}

}  // namespace tokenmark::cpu
