// sample_synthid on the CPU: per row, softmax weights over the candidates (the vocabulary or its
// top-k), the 2-leaf tournament in closed form for `layers` layers, then one inverse-CDF draw
// with the caller's uniform. Fused: the g-values of a token are the bits of one PRF word, drawn
// once per row into a [vocab] uint32 scratch, and every layer is one pass over [vocab] float64
// weights; nothing of size [vocab, layers] exists. Rows run in parallel.
//
// Sums use the frozen order of the spec (8 interleaved lanes, then a fixed tree): two AVX2
// vectors of four lanes each compute it exactly, and numpy restates it.
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

constexpr int kLanes = 8;

inline double tree8(const double s[kLanes]) {
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// One pass over the weights: when `layer >= 0`, multiply each by the factor of its g-value of
// that layer; then add the (new) weights into the lane sums `s`, and into `sg` those whose
// g-value of layer `next` is 1 (when `next >= 0`). Lane of index i: i mod 8. Fusing layer l's
// update with layer l+1's sums halves the passes and leaves every value and every sum exactly
// as the spec's separate steps compute them. Scalar from index `from` (a multiple of 8) on.
void pass_scalar(double* w, const uint32_t* words, int64_t n, int layer, SynthIdFactors f, int next,
                 double s[kLanes], double sg[kLanes], int64_t from) {
  for (int64_t i = from; i < n; ++i) {
    if (layer >= 0) w[i] *= f.c[synthid_g(words[i], layer)];
    s[i % kLanes] += w[i];
    if (next >= 0) sg[i % kLanes] += synthid_g(words[i], next) ? w[i] : 0.0;
  }
}

#if defined(__x86_64__)
// The same pass, eight weights per step (lanes 0-3 and 4-7 in two vectors). Returns the index
// where the scalar tail starts.
TM_AVX2 int64_t pass_avx2(double* w, const uint32_t* words, int64_t n, int layer, SynthIdFactors f,
                          int next, double s[kLanes], double sg[kLanes]) {
  __m256d acc[2] = {_mm256_loadu_pd(s), _mm256_loadu_pd(s + 4)};
  __m256d accg[2] = {_mm256_loadu_pd(sg), _mm256_loadu_pd(sg + 4)};
  const __m256d c0 = _mm256_set1_pd(f.c[0]), c1 = _mm256_set1_pd(f.c[1]);
  const __m256i one = _mm256_set1_epi64x(1);
  const __m128i sh = _mm_cvtsi32_si128(layer < 0 ? 0 : layer);
  const __m128i shn = _mm_cvtsi32_si128(next < 0 ? 0 : next);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int h = 0; h < 2; ++h) {
      const __m256i wd = _mm256_cvtepu32_epi64(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(words + i + 4 * h)));
      __m256d x = _mm256_loadu_pd(w + i + 4 * h);
      if (layer >= 0) {
        const __m256i g = _mm256_and_si256(_mm256_srl_epi64(wd, sh), one);
        const __m256d m = _mm256_castsi256_pd(_mm256_cmpeq_epi64(g, one));
        x = _mm256_mul_pd(x, _mm256_blendv_pd(c0, c1, m));
        _mm256_storeu_pd(w + i + 4 * h, x);
      }
      acc[h] = _mm256_add_pd(acc[h], x);
      if (next >= 0) {
        const __m256i g = _mm256_and_si256(_mm256_srl_epi64(wd, shn), one);
        const __m256d m = _mm256_castsi256_pd(_mm256_cmpeq_epi64(g, one));
        accg[h] = _mm256_add_pd(accg[h], _mm256_and_pd(m, x));
      }
    }
  }
  _mm256_storeu_pd(s, acc[0]);
  _mm256_storeu_pd(s + 4, acc[1]);
  _mm256_storeu_pd(sg, accg[0]);
  _mm256_storeu_pd(sg + 4, accg[1]);
  return i;
}
#endif

// Runs the pass (see pass_scalar) from zeroed lane sums; returns the total of the new weights
// and, when `next >= 0`, sets *expected_next = E_w[g_next].
double weight_pass(double* w, const uint32_t* words, int64_t n, int layer, SynthIdFactors f,
                   int next, bool simd, double* expected_next) {
  double s[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0}, sg[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t from = 0;
#if defined(__x86_64__)
  if (simd) from = pass_avx2(w, words, n, layer, f, next, s, sg);
#endif
  (void)simd;
  pass_scalar(w, words, n, layer, f, next, s, sg, from);
  const double total = tree8(s);
  if (next >= 0) *expected_next = tree8(sg) / total;
  return total;
}

// The tournament over `layers` layers, layer 0 first; returns the total of the final weights.
double tournament(double* w, const uint32_t* words, int64_t n, int layers, bool simd) {
  double e = 0.0;
  const SynthIdFactors none{{1.0, 1.0}};
  double total = weight_pass(w, words, n, -1, none, 0, simd, &e);
  for (int l = 0; l < layers; ++l) {
    total = weight_pass(w, words, n, l, synthid_factors(e), l + 1 < layers ? l + 1 : -1, simd, &e);
  }
  return total;
}

int64_t inverse_cdf(const double* w, int64_t n, double r, double total) {
  const double target = r * total;
  double c = 0.0;
  int64_t last = -1;
  for (int64_t i = 0; i < n; ++i) {
    c += w[i];
    if (c > target) return i;
    if (w[i] > 0.0) last = i;
  }
  return last;
}

// Softmax weights of the spec: 1 where x == max, 0 for -inf, else synthid_exp(x - max).
inline double base_weight(float x, double m) {
  const double xd = x;
  return !(x > -std::numeric_limits<float>::infinity()) ? 0.0 : xd == m ? 1.0 : synthid_exp(xd - m);
}

#if defined(__x86_64__)
// base_weight on four lanes: the same multiplies and adds as synthid_exp, lane by lane.
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
#endif

void base_weights(const float* x, int64_t n, float mx, double* w, bool simd) {
  const double m = mx;
  int64_t i = 0;
#if defined(__x86_64__)
  if (simd) i = base_weights_avx2(x, n, m, w);
#endif
  (void)simd;
  for (; i < n; ++i) w[i] = base_weight(x[i], m);
}

struct Scratch {
  std::vector<int32_t> cand;  // candidate token ids, ascending (top-k only)
  std::vector<double> w;
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
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, s.x[i]);
  a.marked[b] = 0;
  if (!(mx > -std::numeric_limits<float>::infinity())) {
    a.out[b] = kSynthIdNoFiniteLogit;
    return;
  }
  s.w.resize(n);
  base_weights(s.x.data(), n, mx, s.w.data(), simd);
  uint32_t ctx = 0;
  const int64_t off = b * a.ids_row_stride;
  const bool on =
      (!a.enabled || a.enabled[b]) &&
      (a.ids_is_int64 ? row_context(a, static_cast<const int64_t*>(a.input_ids) + off, &ctx)
                      : row_context(a, static_cast<const int32_t*>(a.input_ids) + off, &ctx));
  double total;
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
    total = tournament(s.w.data(), s.words.data(), n, a.layers, simd);
    a.marked[b] = 1;
  } else {
    total = weight_pass(s.w.data(), nullptr, n, -1, SynthIdFactors{{1.0, 1.0}}, -1, false, nullptr);
  }
  const int64_t i = inverse_cdf(s.w.data(), n, a.uniforms[b], total);
  a.out[b] = topk ? s.cand[i] : i;
}

}  // namespace

void sample_synthid(const SynthIdSampleArgs& a) {
  const bool simd = simd_enabled();
#pragma omp parallel if (a.batch > 1 && a.batch * a.vocab >= 8192)
  {
    Scratch s;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < a.batch; ++b) sample_row(a, b, simd, s);
  }
}

}  // namespace tokenmark::cpu
