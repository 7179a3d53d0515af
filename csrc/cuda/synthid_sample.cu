// sample_synthid on CUDA: the spec's phased tournament (docs/prf.md, "Sampling") on a grid of
// (row, chunk) blocks, in phases + 3 launches on one stream and without a host sync:
//
//   top-k       (rows; only with 0 < a.top_k < vocab, one more launch) each row's top-k
//               candidates and their logits into the workspace (top_k.cuh); the steps below then
//               run on those as they do on caller-gathered candidates.
//   memset      the rows' state and histograms.
//   setup       (rows x chunks) the row's largest logit (atomicMax on an order-preserving key);
//               chunk 0 also decides whether the row is watermarked, and its context hash.
//   pass p      (rows x chunks), p = 0 .. phases: each candidate's weight, recomputed from its
//               logit (softmax weight, PRF word, the factors of phases < p: cheaper than storing
//               and reloading 12 bytes per candidate), goes as a fixed-point value into its bin
//               of phase p (a block histogram in shared memory, each bin two 32-bit words
//               (BlockHist), then 64-bit atomics into the row's) or, in the row's last pass,
//               into the chunk's total (a block reduction). The
//               block of a row that arrives last (a counter after a fence) then computes the
//               phase's factors from the row's histogram, or, after the last pass, draws the token:
//               the chunk whose running total passes the target, then the candidate in it by a
//               block scan.
//
// Integer sums are exact, so atomics in any order give the spec's bits, and every float64 step is
// one of the spec's IEEE operations: CMake compiles this file with --fmad=false, so that no
// multiply-add is fused (as -ffp-contract=off does for the C++ build).
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "launch.h"
#include "sample_rows.cuh"
#include "synthid_cuda.h"
#include "tokenmark/synthid.h"
#include "top_k.cuh"

namespace tokenmark::cuda {
namespace {

constexpr int kThreadsPerBlock = 256;
// Candidates per block of a pass (SynthIdSampleArgs::chunk, synthid_cuda.h): larger chunks mean
// fewer blocks per row, so fewer histogram atomics into the row and fewer loads of the played
// factors, at the cost of fewer blocks at work.
static_assert(kSynthIdMinChunk == 4 * kThreadsPerBlock, "whole Philox blocks per thread");
constexpr int kMaxPhases = (kSynthIdMaxLayers + kSynthIdPhaseBits - 1) / kSynthIdPhaseBits;
constexpr unsigned kNoLogitKey = 0x007FFFFFu;  // order_key(-inf): nothing above it yet

struct RowState {
  unsigned max_key;                  // order_key of the row's largest candidate logit (0 at first)
  uint32_t ctx;                      // context hash, when watermarked
  int marked;                        // 1: the tournament runs on this row
  unsigned arrived[kMaxPhases + 1];  // blocks done with each pass
};

// Scratch layout, carved out of the caller's workspace (workspace_bytes below).
struct Scratch {
  RowState* state;        // [batch]                zeroed by the launcher
  uint64_t* hist;         // [batch, phases, bins]  zeroed by the launcher
  double* factors;        // [batch, phases, bins]  each phase's factors
  uint64_t* chunk_total;  // [batch, chunks]        fixed-point total of each chunk
  int64_t chunk;          // candidates per block
};

struct Layout {
  size_t state, hist, factors, chunk_total, cand, values, split, split_bytes, total;
};

size_t align16(size_t x) { return (x + 15) & ~size_t{15}; }

__host__ __device__ int phase_count(int layers) {
  return (layers + kSynthIdPhaseBits - 1) / kSynthIdPhaseBits;
}

// With 0 < top_k < n, the pass runs on top_k candidates, picked into `cand` and `values`.
Layout layout(int64_t batch, int64_t vocab, int layers, int64_t top_k) {
  const bool picked = top_k > 0 && top_k < vocab;
  const int64_t n = picked ? top_k : vocab;
  // Sized for the smallest chunk, so that any chunk the caller picks fits.
  const size_t rows = static_cast<size_t>(batch), chunks = ceil_div(n, kSynthIdMinChunk);
  const size_t bins = rows * phase_count(layers) * kSynthIdBins;
  Layout l{};
  l.state = 0;
  l.hist = align16(l.state + rows * sizeof(RowState));
  l.factors = align16(l.hist + bins * sizeof(uint64_t));
  l.chunk_total = align16(l.factors + bins * sizeof(double));
  l.cand = align16(l.chunk_total + rows * chunks * sizeof(uint64_t));
  const size_t picks = picked ? rows * static_cast<size_t>(top_k) : 0;
  l.values = align16(l.cand + picks * sizeof(int32_t));
  l.split = align16(l.values + picks * sizeof(float));
  l.split_bytes = picked ? top_k_split_bytes(batch, vocab, top_k) : 0;
  l.total = l.split_bytes == SIZE_MAX ? SIZE_MAX : align16(l.split + l.split_bytes);  // refused
  return l;
}

// Float ordering as unsigned ordering: larger floats give larger keys; -inf gives kNoLogitKey.
__device__ __forceinline__ unsigned order_key(float x) {
  const unsigned u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_value(unsigned k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}

__device__ __forceinline__ const void* logits_row(const SynthIdSampleArgs& a, int64_t b) {
  return static_cast<const char*>(a.logits) +
         b * a.logits_row_stride * (a.dtype == kFloat32 ? 4 : 2);
}

// Profiling stamps (SynthIdSampleArgs::stage_times; sample_synthid_stage_shape in
// synthid_cuda.h): the chunks of a row in the layout, whatever the chunk taken.
__host__ __device__ int64_t stage_max_chunks(int64_t n) {
  return n > kSynthIdMinChunk ? (n + kSynthIdMinChunk - 1) / kSynthIdMinChunk : 1;
}

// The device's global timer in ns (under the host emulation, its cycle counter).
__device__ __forceinline__ uint64_t global_ns() {
#if defined(__CUDA_ARCH__)
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
#else
  return static_cast<uint64_t>(clock64());
#endif
}

// Thread 0 stamps stage `stage` of launch `launch` (0: setup, 1 + p: pass p) for its block. The
// kernels take kStamps as a template parameter, so that the launches in use carry no stamp code
// (it cost the pass kernel 2 registers).
template <bool kStamps>
__device__ __forceinline__ void stamp(const SynthIdSampleArgs& a, int launch, int stage) {
  if (!kStamps || threadIdx.x != 0) return;
  const int64_t at =
      ((launch * a.batch + blockIdx.x) * stage_max_chunks(a.vocab) + blockIdx.y) * kSynthIdStages +
      stage;
  a.stage_times[2 * at] = global_ns();
  a.stage_times[2 * at + 1] = static_cast<uint64_t>(clock64());
}

__device__ __forceinline__ uint32_t phase_bin(uint32_t word, int phase, int layers) {
  const int start = phase * kSynthIdPhaseBits;
  const int bits = min(kSynthIdPhaseBits, layers - start);
  return (word >> start) & ((1u << bits) - 1u);
}

// A block's histogram of one phase in shared memory: each bin's 64-bit sum as two 32-bit words,
// because shared memory has native 32-bit atomic adds but none for 64 bits (a 64-bit atomicAdd
// there compiles to a compare-and-swap loop, ATOMS.CAST.SPIN.64, that lanes of a warp hitting
// one bin repeat). The low word's add returns the old value, so the adder whose add wraps it
// (old + lo < old) carries 1 into the high word: lo + 2^32 * hi is the exact sum, in any order.
struct BlockHist {
  uint32_t* lo;  // [kSynthIdBins]
  uint32_t* hi;  // [kSynthIdBins]

  __device__ __forceinline__ void add(uint32_t bin, uint64_t v) const {
    const uint32_t v_lo = static_cast<uint32_t>(v), v_hi = static_cast<uint32_t>(v >> 32);
    const uint32_t old = atomicAdd(&lo[bin], v_lo);
    const uint32_t up = v_hi + (old + v_lo < old ? 1u : 0u);
    if (up) atomicAdd(&hi[bin], up);
  }
  __device__ __forceinline__ uint64_t sum(int bin) const {
    return (static_cast<uint64_t>(hi[bin]) << 32) | lo[bin];
  }
};

// The sum of every thread's `v`, for thread 0 (others get a partial sum): a butterfly in each
// warp, then thread 0 adds the warps' sums (integers: any order gives the same sum). `warps`
// holds kThreadsPerBlock / 32 entries of shared memory; every thread must call it.
__device__ uint64_t block_sum(uint64_t v, uint64_t* warps) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreadsPerBlock / 32; ++w) v += warps[w];
  }
  __syncthreads();  // `warps` may be reused
  return v;
}

// Whether row b is watermarked (enabled, a full context, no repeat in the last `history`
// positions) and its context hash. Block-uniform; every thread must call it.
template <typename IdT>
__device__ bool row_watermarked(const SynthIdSampleArgs& a, int64_t b, uint32_t* ctx, int* flag) {
  if ((a.enabled && !a.enabled[b]) || a.ids_len < a.width) return false;
  const IdT* ids = static_cast<const IdT*>(a.input_ids) + b * a.ids_row_stride;
  int64_t from = a.ids_len;  // history 0: no search
  if (a.history > 0) from = a.ids_len - a.history > a.width ? a.ids_len - a.history : a.width;
  if (context_repeated_block(ids, from, a.ids_len, a.width, a.seeding, flag)) return false;
  *ctx = ids_context(ids, a.ids_len, a.width, a.seeding);
  return true;
}

template <bool kStamps>
__global__ void __launch_bounds__(kThreadsPerBlock) setup_kernel(SynthIdSampleArgs a, Scratch s) {
  __shared__ unsigned block_max;
  __shared__ int flag;
  const int64_t b = blockIdx.x, begin = static_cast<int64_t>(blockIdx.y) * s.chunk;
  const int64_t end = begin + s.chunk < a.vocab ? begin + s.chunk : a.vocab;
  const void* row = logits_row(a, b);
  stamp<kStamps>(a, 0, 0);
  if (threadIdx.x == 0) block_max = 0;
  __syncthreads();
  unsigned best = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreadsPerBlock) {
    const float x = load_logit(row, a.dtype, i);
    if (!isnan(x)) best = best > order_key(x) ? best : order_key(x);
  }
  atomicMax(&block_max, best);
  __syncthreads();
  stamp<kStamps>(a, 0, 2);
  if (threadIdx.x == 0) atomicMax(&s.state[b].max_key, block_max);
  stamp<kStamps>(a, 0, 3);
  if (blockIdx.y != 0) return;  // block-uniform
  uint32_t ctx = 0;
  const bool on = a.ids_is_int64 ? row_watermarked<int64_t>(a, b, &ctx, &flag)
                                 : row_watermarked<int32_t>(a, b, &ctx, &flag);
  if (threadIdx.x == 0) {
    s.state[b].ctx = ctx;
    s.state[b].marked = on ? 1 : 0;
  }
  stamp<kStamps>(a, 0, 4);
}

// What one pass knows about its row.
struct RowView {
  const void* logits;
  const int32_t* cand;  // token id of each candidate ([n] int32), or null (index = id)
  Key128 key;
  uint32_t ctx;
  bool marked;
  double max_logit;
  int layers;
  const double* factors;  // [p, bins] in shared memory: the factors of the phases played
  int played;             // phases whose factors apply (p)
};

// Where a row's PRF words come from: none (a plain row), the Philox block of each group of four
// token ids, or one word per candidate (the caller's or the top-k's candidate ids).
enum class Words { kNone, kIds, kCands };
template <Words kWords>
using WordsTag = std::integral_constant<Words, kWords>;

// Calls f(WordsTag<row's words>{}): the mode is block-uniform, and the loops over candidates are
// compiled once per mode, so that no branch on it separates the candidates of a group (a branch
// there kept the compiler from overlapping their exp polynomials).
template <typename F>
__device__ __forceinline__ void with_words(const RowView& r, F&& f) {
  if (!r.marked) {
    f(WordsTag<Words::kNone>{});
  } else if (r.cand) {
    f(WordsTag<Words::kCands>{});
  } else {
    f(WordsTag<Words::kIds>{});
  }
}

// The weights after the played phases of candidates g .. g + 3, whose logits are `x`, and their
// PRF words (0 on a plain row); a candidate at or past `end` gets a weight and a word never used.
// The four go side by side (synthid_base_weights4): one after another, each candidate's exp
// waited on its own chain of multiplies and adds.
template <Words kWords>
__device__ __forceinline__ void group_weights(const RowView& r, int64_t g, int64_t end,
                                              const Logits4& x, double (&w)[4],
                                              uint32_t (&word)[4]) {
  synthid_base_weights4(x.v, r.max_logit, w);
  if constexpr (kWords == Words::kNone) {
    for (int k = 0; k < 4; ++k) word[k] = 0;
    return;
  }
  if constexpr (kWords == Words::kIds) {
    const U32x4 block = prf_block(r.key, r.ctx, static_cast<uint32_t>(g >> 2), kDomainSynthIdG);
    for (int k = 0; k < 4; ++k) word[k] = block.v[k];
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      word[k] =
          g + k < end ? synthid_g_word(r.key, r.ctx, static_cast<uint32_t>(r.cand[g + k])) : 0u;
    }
  }
  for (int f = 0; f < r.played; ++f) {
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      w[k] = w[k] * r.factors[f * kSynthIdBins + phase_bin(word[k], f, r.layers)];
    }
  }
}

// Phase p's factors of a row from its histogram, the spec's phase_factors, by the first warp of
// the row's last block (a block-wide version took ~65 barrier-separated steps): per layer j, the
// tree sums of the marginal's even and odd entries, E, the next marginal; then
// F[q] = prod_j c_j[bit j of q], layer 0 first. While a layer's marginal has n >= 64 entries
// (in shared memory, ping-pong), lane l sums its run [l * n / 32, (l + 1) * n / 32): its pairs
// form aligned subtrees of both tree sums, added level by level through a stack of partial sums
// (left + right, as the spec); the last five levels are an xor butterfly (a + b == b + a, so
// every lane gets the spec's sum). From n = 32 on, lane l holds entry l in a register: the even
// and odd sums are butterflies over the even and odd lanes, and the next marginal gathers lanes
// 2l and 2l + 1. `staging` holds 2 * kFactorStaging doubles of shared memory; the caller runs
// this on threads 0..31 only.
constexpr int kFactorStaging = kSynthIdBins + kSynthIdBins / 32;

// Entry i of a marginal in shared memory: one pad slot per 32 entries puts the runs of
// neighbouring lanes in different banks.
__device__ __forceinline__ int padded(int i) { return i + i / 32; }

__device__ void phase_factors_warp(const uint64_t* hist, int bits, double* staging, double* out) {
  constexpr unsigned kAll = 0xFFFFFFFFu;
  constexpr int kMaxPairs = kSynthIdBins / 64;  // pairs per lane at n = 1024
  constexpr int kLevels = 5;                    // log2(kMaxPairs) + 1 stack slots
  __shared__ double c[kSynthIdPhaseBits][2];
  const int lane = threadIdx.x;
  const int bins = 1 << bits;
  int n = bins, j = 0;
  double x = 0.0;  // from n = 32: entry `lane` of the marginal (lanes >= n hold junk never read)
  const auto record = [&](double s0, double s1) {
    const double e = synthid_expected(s0, s1);
    if (lane == 0) {
      c[j][0] = 1.0 - e;
      c[j][1] = 2.0 - e;
    }
    ++j;
    n /= 2;
    return SynthIdFactors{{1.0 - e, 2.0 - e}};
  };
  if (bins >= 64) {
    // The two halves of `staging` by offset (an array of their pointers, indexed by `cur`, went
    // to local memory).
    const auto buf = [staging](int half) { return staging + half * kFactorStaging; };
#pragma unroll 8
    for (int q = lane; q < bins; q += 32) {  // coalesced; 8 L2 loads in flight per lane
      buf(0)[padded(q)] =
          static_cast<double>(__ldcg(reinterpret_cast<const unsigned long long*>(hist + q)));
    }
    __syncwarp();
    int cur = 0;
    for (; n >= 64; cur ^= 1) {
      const int pairs = n / 64, first = lane * 2 * pairs;
      const double* in = buf(cur);
      double* next = buf(cur ^ 1);
      double st0[kLevels], st1[kLevels];  // left subtrees waiting for their right halves
      double s0 = 0.0, s1 = 0.0;
#pragma unroll
      for (int i = 0; i < kMaxPairs; ++i) {
        if (i < pairs) {
          double a0 = in[padded(first + 2 * i)], a1 = in[padded(first + 2 * i + 1)];
          int level = 0;
#pragma unroll
          for (; level < kLevels && ((i >> level) & 1); ++level) {
            a0 = st0[level] + a0;
            a1 = st1[level] + a1;
          }
          st0[level] = a0;
          st1[level] = a1;
          s0 = a0;  // after pair `pairs - 1` (a power of two in all): the lane's whole subtree
          s1 = a1;
        }
      }
#pragma unroll
      for (int off = 1; off < 32; off *= 2) {
        s0 = s0 + __shfl_xor_sync(kAll, s0, off);
        s1 = s1 + __shfl_xor_sync(kAll, s1, off);
      }
      const SynthIdFactors f = record(s0, s1);
      for (int i = 0; i < pairs; ++i) {
        next[padded(lane * pairs + i)] =
            f.c[0] * in[padded(first + 2 * i)] + f.c[1] * in[padded(first + 2 * i + 1)];
      }
      // No __syncwarp: a lane next reads only the entries it wrote itself (run l of the next
      // layer is what lane l made), and the butterfly above orders a buffer's reuse.
    }
    x = buf(cur)[lane];  // lane l wrote it; padded(lane) == lane
  } else {
    x = lane < bins
            ? static_cast<double>(__ldcg(reinterpret_cast<const unsigned long long*>(hist + lane)))
            : 0.0;
  }
  while (n > 1) {
    double s = x;
    for (int off = 2; off < n; off *= 2) s = s + __shfl_xor_sync(kAll, s, off);
    const double s0 = __shfl_sync(kAll, s, 0), s1 = __shfl_sync(kAll, s, 1);
    const SynthIdFactors f = record(s0, s1);
    const double lo = __shfl_sync(kAll, x, (2 * lane) & 31);
    const double hi = __shfl_sync(kAll, x, (2 * lane + 1) & 31);
    x = f.c[0] * lo + f.c[1] * hi;
  }
  __syncwarp();
  // F[q] = (1 * c_0[bit 0 of q]) * c_1[bit 1] * ..., layer 0 first. Lane l's entries are q = l
  // + 32 h: the product of its five low layers is the lane's own, then each higher layer doubles
  // the lane's column in `staging` (its entry j becomes j * c[0] and j + half * c[1]), the same
  // multiplies in the same order with 62 per lane where a product per entry took 320.
  const int low = bits < 5 ? bits : 5;
  double v = 1.0;  // lanes >= bins hold a product never stored
  for (int l = 0; l < low; ++l) v *= c[l][(lane >> l) & 1];
  if (bits <= 5) {
    if (lane < bins) out[lane] = v;
    return;
  }
  staging[lane] = v;
  for (int l = 5; l < bits; ++l) {
    const int half = 1 << (l - 5);  // the column's entries so far
    const double c0 = c[l][0], c1 = c[l][1];
    for (int j = 0; j < half; ++j) {
      const double e = staging[lane + 32 * j];
      staging[lane + 32 * (j + half)] = e * c1;
      staging[lane + 32 * j] = e * c0;
    }
  }
  for (int h = 0; h < bins / 32; ++h) out[lane + 32 * h] = staging[lane + 32 * h];
}

// Inclusive prefix sums over the block (Hillis-Steele in `scan`, kThreadsPerBlock entries):
// returns this thread's; scan[kThreadsPerBlock - 1] holds the block's total until the next call.
__device__ uint64_t block_inclusive_scan(uint64_t* scan, uint64_t mine) {
  scan[threadIdx.x] = mine;
  __syncthreads();
  for (int off = 1; off < kThreadsPerBlock; off *= 2) {
    const uint64_t add = threadIdx.x >= off ? scan[threadIdx.x - off] : 0;
    __syncthreads();
    scan[threadIdx.x] += add;
    __syncthreads();
  }
  return scan[threadIdx.x];
}

// The draw of row b, by its last block after the final pass: the first candidate whose
// fixed-point running sum exceeds the target. The chunk totals are read in parallel (a
// sequential walk would wait on one L2 load after another); `scan` holds kThreadsPerBlock
// uint64 of shared memory.
__device__ void draw_block(const SynthIdSampleArgs& a, const RowView& r, const Scratch& s,
                           int64_t b, int64_t chunks, double scale, uint64_t* scan) {
  __shared__ uint64_t total;
  __shared__ int64_t chunk;
  __shared__ uint64_t rest;  // the target minus the totals of the candidates before the chunk
  const auto total_of = [&](int64_t c) {
    return c < chunks ? static_cast<uint64_t>(__ldcg(reinterpret_cast<const unsigned long long*>(
                            s.chunk_total + b * chunks + c)))
                      : uint64_t{0};
  };
  uint64_t part = 0;
  for (int64_t c = threadIdx.x; c < chunks; c += kThreadsPerBlock) part += total_of(c);
  part = block_sum(part, scan);
  if (threadIdx.x == 0) {
    total = part;
    chunk = -1;
  }
  __syncthreads();
  uint64_t target = synthid_draw_target(total, a.uniforms[b]);
  // A uniform outside [0, 1) (not checked: that needs a host sync) draws the last candidate
  // rather than leaving the output unwritten.
  if (!(target < total)) target = total - 1;
  // The chunk holding the target: tiles of chunk totals, scanned; the thread whose range holds
  // it (exclusive prefix <= target < inclusive prefix) is the only one.
  uint64_t before = 0;
  for (int64_t t0 = 0; t0 < chunks; t0 += kThreadsPerBlock) {
    const uint64_t mine = total_of(t0 + threadIdx.x);
    const uint64_t incl = before + block_inclusive_scan(scan, mine);
    if (incl - mine <= target && target < incl) {
      chunk = t0 + threadIdx.x;
      rest = target - (incl - mine);
    }
    before += scan[kThreadsPerBlock - 1];
    __syncthreads();
    if (chunk >= 0) break;  // block-uniform: read after the barrier
  }
  const int64_t begin = chunk * s.chunk,
                end = begin + s.chunk < a.vocab ? begin + s.chunk : a.vocab;
  // Thread t holds candidates lo .. lo + per_thread - 1 (whole Philox blocks: lo is a multiple
  // of 4).
  const int per_thread = static_cast<int>(s.chunk / kThreadsPerBlock);
  const int64_t lo = begin + static_cast<int64_t>(threadIdx.x) * per_thread;
  const bool vector_loads = logits_aligned4(r.logits, a.dtype);  // block-uniform
  // The fixed-point weights of candidates g .. g + 3 (0 past the chunk).
  const auto group_fixed = [&](auto words, int64_t g, uint64_t (&v)[4]) {
    double w[4];
    uint32_t word[4];
    group_weights<decltype(words)::value>(
        r, g, end, load_logits4(r.logits, a.dtype, g, end, vector_loads), w, word);
#pragma unroll
    for (int q = 0; q < 4; ++q) v[q] = g + q < end ? synthid_fixed(w[q], scale) : 0;
  };
  uint64_t mine = 0;
  with_words(r, [&](auto words) {
    for (int k = 0; k < per_thread; k += 4) {
      uint64_t v[4];
      group_fixed(words, lo + k, v);
      mine += v[0] + v[1] + v[2] + v[3];
    }
  });
  const uint64_t incl = block_inclusive_scan(scan, mine);
  uint64_t c = incl - mine;        // exclusive prefix
  if (c <= rest && rest < incl) {  // exactly one thread: the crossing is here
    int64_t i = lo;
    with_words(r, [&](auto words) {
      for (int k = 0; k < per_thread; k += 4) {
        uint64_t v[4];
        group_fixed(words, lo + k, v);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          if (c <= rest) {
            i = lo + k + q;
            c += v[q];
          }
        }
      }
    });
    a.out[b] = r.cand ? r.cand[i] : i;
    a.marked[b] = static_cast<uint8_t>(r.marked);
  }
}

// Pass p over one chunk of a row (see the top of the file). `cand` maps a candidate index to its
// token id ([batch, vocab] int32, the caller's top-k) or is null (index = id).
template <bool kStamps>
__global__ void __launch_bounds__(kThreadsPerBlock)
    pass_kernel(SynthIdSampleArgs a, const int32_t* cand, Scratch s, int p, double scale) {
  // Shared memory, reused: the played phases' factors and this pass's histogram during the
  // pass, then (last block, not the last pass) the work space of phase_factors_block.
  __shared__ double smem[(kMaxPhases + 1) * kSynthIdBins];
  __shared__ uint64_t scan[kThreadsPerBlock];
  __shared__ bool last_block;
  const int64_t b = blockIdx.x, chunks = gridDim.y;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * s.chunk;
  const int64_t end = begin + s.chunk < a.vocab ? begin + s.chunk : a.vocab;
  RowState* state = s.state + b;
  stamp<kStamps>(a, 1 + p, 0);
  const unsigned max_key = state->max_key;
  const bool marked = state->marked != 0;
  if (max_key <= kNoLogitKey) {  // no finite logit
    if (p == 0 && blockIdx.y == 0 && threadIdx.x == 0) {
      a.out[b] = kNoFiniteLogit;
      a.marked[b] = 0;
    }
    return;
  }
  if (p > 0 && !marked) return;
  const int phases = phase_count(a.layers);
  const bool last_pass = p == (marked ? phases : 0);  // block-uniform
  RowView r{};
  r.logits = logits_row(a, b);
  r.cand = cand ? cand + b * a.vocab : nullptr;
  r.key = Key128{{a.keys[b * a.key_stride], a.keys[b * a.key_stride + 1],
                  a.keys[b * a.key_stride + 2], a.keys[b * a.key_stride + 3]}};
  r.ctx = state->ctx;
  r.marked = marked;
  r.max_logit = key_value(max_key);
  r.layers = a.layers;
  r.factors = smem;
  r.played = p;
  uint32_t* words = reinterpret_cast<uint32_t*>(smem + p * kSynthIdBins);
  const BlockHist hist{words, words + kSynthIdBins};
  for (int q = threadIdx.x; q < p * kSynthIdBins; q += kThreadsPerBlock) {
    smem[q] = s.factors[b * phases * kSynthIdBins + q];
  }
  if (!last_pass) {
    for (int q = threadIdx.x; q < 2 * kSynthIdBins; q += kThreadsPerBlock) words[q] = 0;
  }
  __syncthreads();
  stamp<kStamps>(a, 1 + p, 1);
  uint64_t total = 0;
  // Each thread takes groups of 4 neighbouring candidates: one vector load of their logits, and
  // one Philox block covers them when candidates are token ids. `begin` is a multiple of 4.
  const bool vector_loads = logits_aligned4(r.logits, a.dtype);  // block-uniform
  with_words(r, [&](auto words) {
    for (int64_t g = begin + 4 * threadIdx.x; g < end; g += 4 * kThreadsPerBlock) {
      double w[4];
      uint32_t word[4];
      group_weights<decltype(words)::value>(
          r, g, end, load_logits4(r.logits, a.dtype, g, end, vector_loads), w, word);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        if (g + k >= end) break;
        const uint64_t v = synthid_fixed(w[k], scale);
        if (last_pass) {
          total += v;
        } else {
          hist.add(phase_bin(word[k], p, a.layers), v);
        }
      }
    }
  });
  if (last_pass) total = block_sum(total, scan);  // block-uniform; its barriers order `hist`
  __syncthreads();
  stamp<kStamps>(a, 1 + p, 2);
  uint64_t* row_hist = s.hist + (b * phases + p) * kSynthIdBins;
  if (last_pass) {
    if (threadIdx.x == 0) s.chunk_total[b * chunks + blockIdx.y] = total;
  } else {
    for (int q = threadIdx.x; q < kSynthIdBins; q += kThreadsPerBlock) {
      const uint64_t v = hist.sum(q);
      if (v)
        atomicAdd(reinterpret_cast<unsigned long long*>(&row_hist[q]),
                  static_cast<unsigned long long>(v));
    }
  }
  // The last block of the row to get here finishes the pass: every other block's histogram
  // atomics or chunk total are visible to it (each block fences before it counts itself).
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last_block = atomicAdd(&state->arrived[p], 1u) == chunks - 1;
  __syncthreads();
  stamp<kStamps>(a, 1 + p, 3);
  if (!last_block) return;
  __threadfence();
  if (last_pass) {
    draw_block(a, r, s, b, chunks, scale, scan);
    if (kStamps) __syncthreads();  // the tail ends with its last thread
    stamp<kStamps>(a, 1 + p, 4);
  } else if (threadIdx.x < 32) {  // one warp computes the factors; the others are done
    static_assert(2 * kFactorStaging <= (kMaxPhases + 1) * kSynthIdBins, "staging fits in smem");
    const int bits = min(kSynthIdPhaseBits, a.layers - p * kSynthIdPhaseBits);
    phase_factors_warp(row_hist, bits, smem, s.factors + (b * phases + p) * kSynthIdBins);
    __syncwarp();
    stamp<kStamps>(a, 1 + p, 4);
  }
}

// Pass blocks the current device holds at once (SMs x blocks per SM at this kernel's registers
// and shared memory), cached per device: two driver queries per decode step otherwise.
cudaError_t resident_pass_blocks(int* blocks) {
  static std::atomic<int> cache[kMaxCachedDevices];
  return per_device_cached(cache, blocks, [](int, int* v) {
    int sms = 0, per_sm = 0;
    cudaError_t err = device_sm_count(&sms);
    if (err == cudaSuccess) {
      err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, pass_kernel<false>,
                                                          kThreadsPerBlock, 0);
    }
    *v = sms * (per_sm > 0 ? per_sm : 1);
    return err;
  });
}

}  // namespace

SynthIdStageShape sample_synthid_stage_shape(int64_t batch, int64_t n, int layers, int64_t top_k) {
  const int64_t cands = top_k > 0 && top_k < n ? top_k : n;
  return {phase_count(layers) + 2, batch, stage_max_chunks(cands)};
}

size_t sample_synthid_workspace_bytes(int64_t batch, int64_t n, int layers, int64_t top_k) {
  if (batch <= 0 || n <= 0 || layers < 1 || layers > kSynthIdMaxLayers || top_k < 0) return 0;
  return layout(batch, n, layers, top_k).total;
}

cudaError_t top_k_candidates_cuda(const void* logits, int64_t batch, int64_t vocab,
                                  int64_t row_stride, LogitsDtype dtype, int64_t k, int32_t* cand,
                                  float* values, void* workspace, size_t workspace_bytes,
                                  cudaStream_t stream) {
  return launch_top_k(logits, batch, vocab, row_stride, dtype, k, cand, values, workspace,
                      workspace_bytes, stream);
}

size_t top_k_workspace_bytes(int64_t batch, int64_t vocab, int64_t k) {
  return top_k_split_bytes(batch, vocab, k);
}

cudaError_t sample_synthid_cuda(const SynthIdSampleArgs& args, const int32_t* cand, void* workspace,
                                size_t workspace_bytes, cudaStream_t stream) {
  if (args.batch < 0 || args.vocab < 0 || args.width < 0 || args.top_k < 0) {
    return cudaErrorInvalidValue;
  }
  if (args.layers < 1 || args.layers > kSynthIdMaxLayers) return cudaErrorInvalidValue;
  if (args.top_k > 0 && cand) return cudaErrorInvalidValue;  // candidates picked twice
  if (args.batch == 0) return cudaSuccess;
  const bool picked = args.top_k > 0 && args.top_k < args.vocab;
  const int64_t n = picked ? args.top_k : (args.vocab > 0 ? args.vocab : 1);
  int64_t chunk = args.chunk;
  if (chunk == 0) {
    int resident = 0;
    const cudaError_t err = resident_pass_blocks(&resident);
    if (err != cudaSuccess) return err;
    chunk = synthid_default_chunk(args.batch, n, resident);
  }
  if (chunk < kSynthIdMinChunk || chunk > kSynthIdMaxChunk || chunk % kSynthIdMinChunk != 0)
    return cudaErrorInvalidValue;
  const int64_t chunks = ceil_div(n, chunk);
  if (args.batch > INT32_MAX || chunks > kSynthIdMaxChunks) return cudaErrorInvalidValue;
  const Layout l = layout(args.batch, args.vocab > 0 ? args.vocab : 1, args.layers, args.top_k);
  if (workspace_bytes < l.total) return cudaErrorInvalidValue;
  char* base = static_cast<char*>(workspace);
  SynthIdSampleArgs a = args;
  a.top_k = 0;
  if (picked) {  // the passes run on the picked candidates: float32 logits, ids in `cand`
    int32_t* picks = reinterpret_cast<int32_t*>(base + l.cand);
    float* values = reinterpret_cast<float*>(base + l.values);
    const cudaError_t err =
        launch_top_k(args.logits, args.batch, args.vocab, args.logits_row_stride, args.dtype,
                     args.top_k, picks, values, base + l.split, l.split_bytes, stream);
    if (err != cudaSuccess) return err;
    a.logits = values;
    a.vocab = args.top_k;
    a.logits_row_stride = args.top_k;
    a.dtype = kFloat32;
    cand = picks;
  }
  const Scratch s{reinterpret_cast<RowState*>(base + l.state),
                  reinterpret_cast<uint64_t*>(base + l.hist),
                  reinterpret_cast<double*>(base + l.factors),
                  reinterpret_cast<uint64_t*>(base + l.chunk_total), chunk};
  cudaError_t err = cudaMemsetAsync(base, 0, l.factors, stream);  // state and histograms
  if (err != cudaSuccess) return err;
  if (a.stage_times) {
    const size_t bytes = sample_synthid_stage_shape(a.batch, a.vocab, a.layers, 0).bytes();
    err = cudaMemsetAsync(a.stage_times, 0, bytes, stream);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid(static_cast<unsigned>(a.batch), static_cast<unsigned>(chunks));
  // An empty vocabulary: without setup every row has no finite logit, reported by pass 0.
  const bool stamps = a.stage_times != nullptr;
  if (a.vocab > 0) {
    if (stamps) {
      setup_kernel<true><<<grid, kThreadsPerBlock, 0, stream>>>(a, s);
    } else {
      setup_kernel<false><<<grid, kThreadsPerBlock, 0, stream>>>(a, s);
    }
  }
  const double scale = ldexp(1.0, synthid_fixed_shift(n));
  for (int p = 0; p <= phase_count(a.layers); ++p) {
    if (stamps) {
      pass_kernel<true><<<grid, kThreadsPerBlock, 0, stream>>>(a, cand, s, p, scale);
    } else {
      pass_kernel<false><<<grid, kThreadsPerBlock, 0, stream>>>(a, cand, s, p, scale);
    }
  }
  return cudaGetLastError();
}

}  // namespace tokenmark::cuda
