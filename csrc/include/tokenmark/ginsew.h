// GINSEW (Zhao, Li, Wang, ICML 2023) on the tokenmark PRF: keyed vocabulary split, keyed time,
// sinusoidal shift of the split's mass. Frozen like prf.h (docs/prf.md section 8).
//
// Host+device: the CPU and CUDA kernels compile these lines; kernels/ginsew_bias.py (Triton) and
// python/tokenmark/reference/ginsew.py (numpy, the spec) restate them.
#pragma once

#include <cmath>
#include <cstdint>

#include "tokenmark/kgw_params.h"
#include "tokenmark/prf.h"

namespace tokenmark {

// PRF domains of GINSEW. Frozen.
constexpr uint32_t kDomainGinsewGroup = 4u;  // token v is in G0 when PRF(key, 0, v, 4) < threshold
constexpr uint32_t kDomainGinsewTime = 5u;   // t = PRF(key, ctx, 0, 5) / 2^32

// Argument bundle of apply_ginsew_ (CPU and CUDA launchers). Per-row parameters use a stride:
// 0 broadcasts one value, 1 (4 for keys) reads one per row.
struct GinsewArgs {
  void* logits;  // [batch, vocab] in `dtype`, rows `logits_row_stride` elements apart
  int64_t batch;
  int64_t vocab;
  int64_t logits_row_stride;
  LogitsDtype dtype;
  const void* input_ids;  // [batch, ids_len], int64 if ids_is_int64 else int32
  bool ids_is_int64;
  int64_t ids_len;
  int64_t ids_row_stride;      // elements
  const uint32_t* keys;        // [batch or 1, 4]
  int64_t key_stride;          // 4 or 0
  const uint32_t* thresholds;  // [batch or 1]: floor(fraction * 2^32), >= 1
  int64_t threshold_stride;
  const double* epsilons;  // [batch or 1], finite, >= 0
  int64_t epsilon_stride;
  const double* frequencies;  // [batch or 1], finite, radians
  int64_t frequency_stride;
  const uint8_t* enabled;  // [batch] or nullptr (all rows enabled)
  int32_t width;           // ids hashed into the time (position < 0)
  int32_t position;        // < 0: the last `width` ids; >= 0: the one id at this index
};

TM_HD bool ginsew_in_g0(uint32_t word, uint32_t threshold) { return word < threshold; }

// The time of a word: word / 2^32, exact in double.
TM_HD double ginsew_time(uint32_t word) {
  return static_cast<double>(word) * 2.3283064365386963e-10;
}

struct GinsewRowParams {
  Key128 key;
  uint32_t threshold;
  double epsilon;
  double frequency;
  double t;
  bool timed;  // enabled and with a full window: the row is perturbed (else only normalised)
};

template <typename IdT>
TM_HD GinsewRowParams ginsew_row_params(const GinsewArgs& a, int64_t row) {
  GinsewRowParams p;
  const uint32_t* k = a.keys + row * a.key_stride;
  p.key = Key128{{k[0], k[1], k[2], k[3]}};
  p.threshold = a.thresholds[row * a.threshold_stride];
  p.epsilon = a.epsilons[row * a.epsilon_stride];
  p.frequency = a.frequencies[row * a.frequency_stride];
  const int64_t start = a.position < 0 ? a.ids_len - a.width : a.position;
  const int w = a.position < 0 ? a.width : 1;
  p.timed = (a.enabled == nullptr || a.enabled[row] != 0) && start >= 0 && start + w <= a.ids_len;
  p.t = 0.0;
  if (p.timed) {
    const IdT* ids = static_cast<const IdT*>(a.input_ids) + row * a.ids_row_stride + start;
    const uint32_t ctx = context_hash(ids, w, kSeedingPrev);
    p.t = ginsew_time(prf_word(p.key, ctx, 0u, kDomainGinsewTime));
  }
  return p;
}

// log(exp(a) + exp(b)) without overflow; -inf when both are -inf.
TM_HD double ginsew_logaddexp(double a, double b) {
  const double m = a > b ? a : b;
  if (m == -INFINITY) return -INFINITY;
  return m + log1p(exp(-fabs(a - b)));
}

// Pass 1 leaves, per group g, its largest finite logit m_g (-inf: no finite logit) and
// s_g = sum of exp(x - m_g) over its finite logits. Pass 2 writes x - m_g - c_g for finite x;
// this computes c_g = log(s_g) - log(Q_g'), Q_g' the group's new mass (double):
//   perturbed (timed, eps > 0, both groups non-empty): with d = L1 - L0, L_g = m_g + log s_g,
//     log Q0 = -softplus(d), log Q1 = -softplus(-d) (Q0 + Q1 = 1, no cancellation), and
//     log Q_g' = logaddexp(log Q_g, log(eps (1 +- cos(f t)))) - log1p(2 eps);
//   otherwise log Q_g' = L_g - logaddexp(L0, L1) (plain log_softmax).
// No guard constant: a group whose mass underflows against the other still gets exactly its
// share, spread by its own in-group softmax.
TM_HD void ginsew_offsets(const GinsewRowParams& p, double m0, double s0, double m1, double s1,
                          double* c0, double* c1) {
  const double ls0 = s0 > 0.0 ? log(s0) : -INFINITY;
  const double ls1 = s1 > 0.0 ? log(s1) : -INFINITY;
  const double l0 = m0 + ls0, l1 = m1 + ls1;
  double lq0, lq1;
  if (p.timed && p.epsilon > 0.0 && l0 > -INFINITY && l1 > -INFINITY) {
    const double d = l1 - l0;
    const double c = cos(p.frequency * p.t);
    const double log_scale = log1p(2.0 * p.epsilon);
    const double a0 = p.epsilon * (1.0 + c), a1 = p.epsilon * (1.0 - c);
    lq0 = ginsew_logaddexp(-ginsew_logaddexp(0.0, d), a0 > 0.0 ? log(a0) : -INFINITY) - log_scale;
    lq1 = ginsew_logaddexp(-ginsew_logaddexp(0.0, -d), a1 > 0.0 ? log(a1) : -INFINITY) - log_scale;
  } else {
    const double total = ginsew_logaddexp(l0, l1);
    lq0 = l0 - total;
    lq1 = l1 - total;
  }
  *c0 = ls0 - lq0;
  *c1 = ls1 - lq1;
}

// Merges a running (max, sum of exp(x - max)) with another; both may be empty (-inf, 0).
template <typename S>
TM_HD void ginsew_merge(float* m, S* s, float m2, S s2) {
  if (m2 == -INFINITY) return;
  if (*m == -INFINITY) {
    *m = m2;
    *s = s2;
    return;
  }
  if (m2 > *m) {
    *s = *s * static_cast<S>(expf(*m - m2)) + s2;
    *m = m2;
  } else {
    *s = *s + s2 * static_cast<S>(expf(m2 - *m));
  }
}

}  // namespace tokenmark
