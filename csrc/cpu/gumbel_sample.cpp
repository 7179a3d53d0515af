// sample_gumbel on the CPU: per row, the argmax of logit + gumbel_noise(PRF word) over the
// vocabulary, lowest id on ties. Rows are split into column tiles over OpenMP threads, each tile
// keeps its own best and the tiles are merged in column order.
//
// Exact pruning keeps it near one read of the logits: a token can only win when
// logit + (an upper bound of its noise) >= the best score so far. Per 32 columns, the largest
// logit plus the largest possible noise (~22.9) decides whether the PRF is needed at all; per
// token, a table of noise bounds indexed by the word's top 12 bits decides whether the two logs
// are. Both bounds are computed with gumbel_noise itself and the noise is non-decreasing in the
// word, so the pruned argmax is the full argmax, bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu_features.h"
#include "gumbel_cpu.h"
#include "prf_row.h"
#include "tokenmark/gumbel.h"

namespace tokenmark::cpu {
namespace {

constexpr int kBoundBits = 12;
constexpr int64_t kTile = 32768;     // columns per task: splits one long row over both cores
constexpr int64_t kStep = kWordRun;  // columns per PRF step (8 Philox blocks)

// bound[b] = the noise of the largest word whose top kBoundBits bits are b.
struct NoiseBounds {
  double bound[1 << kBoundBits];
  NoiseBounds() {
    for (uint32_t b = 0; b < (1u << kBoundBits); ++b) {
      bound[b] = gumbel_noise((b << (32 - kBoundBits)) | ((1u << (32 - kBoundBits)) - 1u));
    }
  }
};

const NoiseBounds& noise_bounds() {
  static const NoiseBounds table;
  return table;
}

struct Best {
  double score;
  int64_t id;  // -1: no finite logit seen
};

#if defined(__x86_64__)
// The largest of kStep float32 logits, as the scalar loop finds it: max_ps keeps its second
// operand (the running maximum) where a lane is NaN, so NaN never counts.
TM_AVX2 inline float chunk_max_avx2(const float* x) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int j = 0; j < kStep; j += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + j), m);
  return avx2::hmax8(m);
}

// Bit j set unless token j's logit plus its noise bound is below `best` (the scalar test's
// double sum and comparison, four tokens at a time; NaN sums stay set).
TM_AVX2 inline uint32_t candidates_avx2(const float* x, const uint32_t* words,
                                        const NoiseBounds& nb, double best) {
  const __m256d vbest = _mm256_set1_pd(best);
  uint32_t mask = 0;
  for (int j = 0; j < kStep; j += 4) {
    const __m256d xd = _mm256_cvtps_pd(_mm_loadu_ps(x + j));
    const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(words + j));
    const __m256d b =
        _mm256_mask_i32gather_pd(_mm256_setzero_pd(), nb.bound, _mm_srli_epi32(w, 32 - kBoundBits),
                                 _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), 8);
    const __m256d keep = _mm256_cmp_pd(_mm256_add_pd(xd, b), vbest, _CMP_NLT_UQ);
    mask |= static_cast<uint32_t>(_mm256_movemask_pd(keep)) << j;
  }
  return mask;
}
#endif

Best sample_tile(const void* row, LogitsDtype dtype, const Key128& key, uint32_t ctx, int64_t c0,
                 int64_t c1, bool simd) {
  const NoiseBounds& nb = noise_bounds();
  const double noise_max = nb.bound[(1 << kBoundBits) - 1];
  Best best{-std::numeric_limits<double>::infinity(), -1};
  alignas(32) uint32_t words[kStep];
  float x[kStep];
  for (int64_t c = c0; c < c1; c += kStep) {
    const int n = static_cast<int>(std::min<int64_t>(kStep, c1 - c));
    float mx = -std::numeric_limits<float>::infinity();
    const float* xv = x;  // this chunk's logits as float32
    if (dtype == kFloat32) {
      xv = static_cast<const float*>(row) + c;
    } else {
      for (int j = 0; j < n; ++j) x[j] = load_logit(row, dtype, c + j);
    }
#if defined(__x86_64__)
    if (simd && n == kStep) {
      mx = chunk_max_avx2(xv);
    } else
#endif
    {
      for (int j = 0; j < n; ++j) mx = xv[j] > mx ? xv[j] : mx;  // NaN never enters
    }
    // -inf and NaN logits never win; `best.id < 0` keeps the first finite logit in play.
    if (!(mx > -std::numeric_limits<float>::infinity())) continue;
    if (best.id >= 0 && static_cast<double>(mx) + noise_max < best.score) continue;
    words32(key, ctx, c, kDomainGumbel, simd, words);
    // The tokens to look at, one bit each; with a best score already, AVX2 drops those whose
    // bound is below it (the scalar test below, against the chunk's first best: a superset).
    uint32_t todo = n == kStep ? ~0u : (1u << n) - 1u;
#if defined(__x86_64__)
    if (simd && n == kStep && best.id >= 0) todo = candidates_avx2(xv, words, nb, best.score);
#endif
    for (; todo != 0; todo &= todo - 1) {
      const int j = __builtin_ctz(todo);
      if (!(xv[j] > -std::numeric_limits<float>::infinity())) continue;
      const double xd = static_cast<double>(xv[j]);
      if (best.id >= 0 && xd + nb.bound[words[j] >> (32 - kBoundBits)] < best.score) continue;
      const double s = xd + gumbel_noise(words[j]);
      if (best.id < 0 || s > best.score) best = Best{s, c + j};
    }
  }
  return best;
}

// The row's context hash (salted), or false when the row is not watermarked.
bool row_context(const GumbelSampleArgs& a, int64_t b, uint32_t* ctx) {
  if ((a.enabled && !a.enabled[b]) || a.ids_len < a.width) return false;
  const int64_t off = b * a.ids_row_stride;
  if (a.ids_is_int64) {
    const int64_t* ids = static_cast<const int64_t*>(a.input_ids) + off;
    if (a.skip_repeated && context_repeated(ids, a.ids_len, a.width, a.seeding, a.ids_len))
      return false;
    *ctx = context_hash(ids + a.ids_len - a.width, a.width, a.seeding);
  } else {
    const int32_t* ids = static_cast<const int32_t*>(a.input_ids) + off;
    if (a.skip_repeated && context_repeated(ids, a.ids_len, a.width, a.seeding, a.ids_len))
      return false;
    *ctx = context_hash(ids + a.ids_len - a.width, a.width, a.seeding);
  }
  *ctx ^= a.salts[b * a.salt_stride];
  return true;
}

}  // namespace

void sample_gumbel(const GumbelSampleArgs& a) {
  if (a.batch == 0) return;
  const bool simd = simd_enabled();
  const int64_t n_tiles = std::max<int64_t>(1, (a.vocab + kTile - 1) / kTile);
  const int64_t n_tasks = a.batch * n_tiles;
  // The calling thread's scratch, kept with its capacity: a decode step allocates nothing. The
  // OpenMP workers use it through the references (each thread_local name is per thread).
  thread_local std::vector<Best> tiles_scratch;
  thread_local std::vector<uint32_t> ctx_scratch;
  thread_local std::vector<uint8_t> active_scratch;
  std::vector<Best>& tiles = tiles_scratch;
  std::vector<uint32_t>& ctx = ctx_scratch;
  std::vector<uint8_t>& active = active_scratch;
  tiles.resize(static_cast<size_t>(n_tasks));
  ctx.resize(static_cast<size_t>(a.batch));
  active.resize(static_cast<size_t>(a.batch));
  for (int64_t b = 0; b < a.batch; ++b) active[b] = row_context(a, b, &ctx[b]);
#pragma omp parallel for schedule(dynamic, 1) if (n_tasks > 1 && a.vocab * a.batch >= 8192)
  for (int64_t t = 0; t < n_tasks; ++t) {
    const int64_t b = t / n_tiles, tile = t % n_tiles;
    if (!active[b]) continue;
    const Key128 key{{a.keys[b * a.key_stride], a.keys[b * a.key_stride + 1],
                      a.keys[b * a.key_stride + 2], a.keys[b * a.key_stride + 3]}};
    const void* row = static_cast<const char*>(a.logits) +
                      b * a.logits_row_stride * (a.dtype == kFloat32 ? 4 : 2);
    tiles[t] = sample_tile(row, a.dtype, key, ctx[b], tile * kTile,
                           std::min(a.vocab, (tile + 1) * kTile), simd);
  }
  for (int64_t b = 0; b < a.batch; ++b) {
    if (!active[b]) {
      a.out[b] = kNotWatermarked;
      continue;
    }
    Best best{0.0, -1};
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
      const Best& t = tiles[b * n_tiles + tile];
      if (t.id >= 0 && (best.id < 0 || t.score > best.score)) best = t;
    }
    a.out[b] = best.id >= 0 ? best.id : kNoFiniteLogit;
  }
}

}  // namespace tokenmark::cpu
