// sample_synthid on the CPU: per row, softmax weights over the candidates (the vocabulary or its
// top-k), the 2-leaf tournament in closed form for `layers` layers, then one inverse-CDF draw
// with the caller's uniform. Fused: the g-values of a token are the bits of one PRF word, drawn
// once per row into a [vocab] uint32 scratch, and every layer is one pass over [vocab] float64
// weights; nothing of size [vocab, layers] exists. Rows run in parallel.
//
// Sums use the frozen order of the spec (8 interleaved lanes, then a fixed tree), which the
// compiler can vectorise without reassociating, and which numpy restates exactly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu_features.h"
#include "prf_row.h"
#include "synthid_cpu.h"
#include "tokenmark/synthid.h"

namespace tokenmark::cpu {
namespace {

constexpr int kLanes = 8;

inline double tree8(const double s[kLanes]) {
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

double lane_sum(const double* w, int64_t n) {
  double s[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) s[j] += w[i + j];
  }
  for (int j = 0; i + j < n; ++j) s[j] += w[i + j];
  return tree8(s);
}

// One tournament layer: E = S_g / S from one pass, then w <- w * (1 + g - E).
void tournament_layer(double* w, const uint32_t* words, int64_t n, int layer) {
  double s[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0}, sg[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      s[j] += w[i + j];
      sg[j] += synthid_g(words[i + j], layer) ? w[i + j] : 0.0;
    }
  }
  for (int j = 0; i + j < n; ++j) {
    s[j] += w[i + j];
    sg[j] += synthid_g(words[i + j], layer) ? w[i + j] : 0.0;
  }
  const SynthIdFactors f = synthid_factors(tree8(sg) / tree8(s));
  for (int64_t k = 0; k < n; ++k) w[k] *= f.c[synthid_g(words[k], layer)];
}

int64_t inverse_cdf(const double* w, int64_t n, double r) {
  const double target = r * lane_sum(w, n);
  double c = 0.0;
  int64_t last = -1;
  for (int64_t i = 0; i < n; ++i) {
    c += w[i];
    if (c > target) return i;
    if (w[i] > 0.0) last = i;
  }
  return last;
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
  const double m = mx;
  for (int64_t i = 0; i < n; ++i) {
    const double xd = s.x[i];
    s.w[i] = !(s.x[i] > -std::numeric_limits<float>::infinity()) ? 0.0
             : xd == m                                           ? 1.0
                                                                 : std::exp(xd - m);
  }
  uint32_t ctx = 0;
  const int64_t off = b * a.ids_row_stride;
  const bool on =
      (!a.enabled || a.enabled[b]) &&
      (a.ids_is_int64 ? row_context(a, static_cast<const int64_t*>(a.input_ids) + off, &ctx)
                      : row_context(a, static_cast<const int32_t*>(a.input_ids) + off, &ctx));
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
    for (int layer = 0; layer < a.layers; ++layer) {
      tournament_layer(s.w.data(), s.words.data(), n, layer);
    }
    a.marked[b] = 1;
  }
  const int64_t i = inverse_cdf(s.w.data(), n, a.uniforms[b]);
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
