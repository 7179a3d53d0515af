// sample_synthid on CUDA: the spec's phased tournament (docs/prf.md, "Sampling") on a grid of
// (row, chunk) blocks, in 2 * phases + 3 launches on one stream and without a host sync:
//
//   setup       (rows x chunks) the row's largest logit (atomicMax on an order-preserving key);
//               chunk 0 also decides whether the row is watermarked, and its context hash.
//   pass p      (rows x chunks) p = 0: each candidate's softmax weight (and, in a watermarked
//               row, its PRF word); p > 0: the weight times its bin's factor of phase p - 1.
//               Then the fixed-point weight goes into its bin of phase p (a block histogram in
//               shared memory, added to the row's with 64-bit atomics) or, in the row's last
//               pass, into the chunk's total; the last pass stores the fixed-point weights.
//   factors p   (rows) phase p's factors from its histogram, by the spec's tree, in parallel.
//   select      (rows) the chunk whose running total passes the draw's target, then the token
//               in it by a block scan.
//
// Integer sums are exact, so atomics in any order give the spec's bits, and every float64 step is
// one of the spec's IEEE operations: CMake compiles this file with --fmad=false, so that no
// multiply-add is fused (as -ffp-contract=off does for the C++ build).
#include <cstdint>

#include "launch.h"
#include "sample_rows.cuh"
#include "synthid_cuda.h"
#include "tokenmark/synthid.h"

namespace tokenmark::cuda {
namespace {

constexpr int kThreadsPerBlock = 256;
constexpr int kChunk = 2048;  // candidates per block of a pass; a multiple of 4 * 256
constexpr int kPerThread = kChunk / kThreadsPerBlock;
constexpr unsigned kNoLogitKey = 0x007FFFFFu;  // order_key(-inf): nothing above it yet

struct RowState {
  unsigned max_key;  // order_key of the row's largest candidate logit (0 before setup)
  uint32_t ctx;      // context hash, when watermarked
  int marked;        // 1: the tournament runs on this row
};

// Scratch layout, carved out of the caller's workspace (workspace_bytes below).
struct Scratch {
  RowState* state;        // [batch]               zeroed by the launcher
  uint64_t* hist;         // [batch, phases, bins] zeroed by the launcher
  double* factors;        // [batch, bins]         the current phase's factors
  uint64_t* chunk_total;  // [batch, chunks]       fixed-point total of each chunk
  double* w;              // [batch, n]            weights; fixed-point (uint64 bits) at the end
  uint32_t* words;        // [batch, n]            g-value words of the candidates
};

struct Layout {
  size_t state, hist, factors, chunk_total, w, words, total;
};

size_t align16(size_t x) { return (x + 15) & ~size_t{15}; }

__host__ __device__ int phase_count(int layers) {
  return (layers + kSynthIdPhaseBits - 1) / kSynthIdPhaseBits;
}

Layout layout(int64_t batch, int64_t n, int layers) {
  const size_t rows = static_cast<size_t>(batch), chunks = ceil_div(n, kChunk);
  Layout l{};
  l.state = 0;
  l.hist = align16(l.state + rows * sizeof(RowState));
  l.factors = align16(l.hist + rows * phase_count(layers) * kSynthIdBins * sizeof(uint64_t));
  l.chunk_total = align16(l.factors + rows * kSynthIdBins * sizeof(double));
  l.w = align16(l.chunk_total + rows * chunks * sizeof(uint64_t));
  l.words = align16(l.w + rows * static_cast<size_t>(n) * sizeof(double));
  l.total = align16(l.words + rows * static_cast<size_t>(n) * sizeof(uint32_t));
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

__device__ __forceinline__ uint32_t phase_bin(uint32_t word, int start, int bits) {
  return (word >> start) & ((1u << bits) - 1u);
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

__global__ void __launch_bounds__(kThreadsPerBlock) setup_kernel(SynthIdSampleArgs a, Scratch s) {
  __shared__ unsigned block_max;
  __shared__ int flag;
  const int64_t b = blockIdx.x, begin = static_cast<int64_t>(blockIdx.y) * kChunk;
  const int64_t end = begin + kChunk < a.vocab ? begin + kChunk : a.vocab;
  const void* row = logits_row(a, b);
  if (threadIdx.x == 0) block_max = 0;
  __syncthreads();
  unsigned best = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreadsPerBlock) {
    const float x = load_logit(row, a.dtype, i);
    if (!isnan(x)) best = best > order_key(x) ? best : order_key(x);
  }
  atomicMax(&block_max, best);
  __syncthreads();
  if (threadIdx.x == 0) atomicMax(&s.state[b].max_key, block_max);
  if (blockIdx.y != 0) return;  // block-uniform
  uint32_t ctx = 0;
  const bool on = a.ids_is_int64 ? row_watermarked<int64_t>(a, b, &ctx, &flag)
                                 : row_watermarked<int32_t>(a, b, &ctx, &flag);
  if (threadIdx.x == 0) {
    s.state[b].ctx = ctx;
    s.state[b].marked = on ? 1 : 0;
  }
}

// One pass over a chunk of a row (see the top of the file). `cand` maps a candidate index to
// its token id ([batch, vocab] int32, the caller's top-k) or is null (index = id).
__global__ void __launch_bounds__(kThreadsPerBlock)
    pass_kernel(SynthIdSampleArgs a, const int32_t* cand, Scratch s, int p, double scale) {
  __shared__ uint64_t hist[kSynthIdBins];
  __shared__ double factors[kSynthIdBins];
  __shared__ unsigned long long block_total;
  const int64_t b = blockIdx.x, begin = static_cast<int64_t>(blockIdx.y) * kChunk;
  const int64_t end = begin + kChunk < a.vocab ? begin + kChunk : a.vocab;
  const RowState st = s.state[b];
  if (st.max_key <= kNoLogitKey) return;  // no finite logit: select reports the row
  if (p > 0 && !st.marked) return;
  const int phases = phase_count(a.layers);
  const bool last = p == (st.marked ? phases : 0);  // block-uniform
  const int start = p * kSynthIdPhaseBits, bits = min(kSynthIdPhaseBits, a.layers - start);
  const int prev_start = start - kSynthIdPhaseBits;
  const int prev_bits = min(kSynthIdPhaseBits, a.layers - prev_start);
  if (!last) {
    for (int q = threadIdx.x; q < kSynthIdBins; q += kThreadsPerBlock) hist[q] = 0;
  } else if (threadIdx.x == 0) {
    block_total = 0;
  }
  if (p > 0) {
    for (int q = threadIdx.x; q < (1 << prev_bits); q += kThreadsPerBlock) {
      factors[q] = s.factors[b * kSynthIdBins + q];
    }
  }
  __syncthreads();
  const double m = key_value(st.max_key);
  const Key128 key{{a.keys[b * a.key_stride], a.keys[b * a.key_stride + 1],
                    a.keys[b * a.key_stride + 2], a.keys[b * a.key_stride + 3]}};
  const void* row = logits_row(a, b);
  double* w = s.w + b * a.vocab;
  uint32_t* words = s.words + b * a.vocab;
  uint64_t total = 0;
  // Each thread takes groups of 4 neighbouring candidates: one Philox block covers them when
  // candidates are token ids.
  for (int64_t g = begin + 4 * threadIdx.x; g < end; g += 4 * kThreadsPerBlock) {
    U32x4 block{};
    if (p == 0 && st.marked && !cand) {
      block = prf_block(key, st.ctx, static_cast<uint32_t>(g >> 2), kDomainSynthIdG);
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int64_t i = g + k;
      if (i >= end) break;
      double x;
      uint32_t word = 0;
      if (p == 0) {
        x = synthid_base_weight(load_logit(row, a.dtype, i), m);
        if (st.marked) {
          word = cand ? synthid_g_word(key, st.ctx, static_cast<uint32_t>(cand[b * a.vocab + i]))
                      : block.v[k];
          words[i] = word;
        }
      } else {
        word = words[i];
        x = w[i] * factors[phase_bin(word, prev_start, prev_bits)];
      }
      const uint64_t v = synthid_fixed(x, scale);
      if (last) {
        reinterpret_cast<uint64_t*>(w)[i] = v;
        total += v;
      } else {
        w[i] = x;
        atomicAdd(reinterpret_cast<unsigned long long*>(&hist[phase_bin(word, start, bits)]),
                  static_cast<unsigned long long>(v));
      }
    }
  }
  if (last) {
    atomicAdd(&block_total, static_cast<unsigned long long>(total));
    __syncthreads();
    if (threadIdx.x == 0) s.chunk_total[b * gridDim.y + blockIdx.y] = block_total;
    return;
  }
  __syncthreads();
  uint64_t* row_hist = s.hist + (b * phase_count(a.layers) + p) * kSynthIdBins;
  for (int q = threadIdx.x; q < (1 << bits); q += kThreadsPerBlock) {
    if (hist[q]) {
      atomicAdd(reinterpret_cast<unsigned long long*>(&row_hist[q]),
                static_cast<unsigned long long>(hist[q]));
    }
  }
}

// Phase p's factors of row b, the spec's phase_factors: per layer j, the tree sums of the
// marginal's even and odd entries (adjacent pairs, level by level, in ping-pong buffers), E, the
// next marginal; then F[q] = prod_j c_j[bit j of q], layer 0 first.
__global__ void __launch_bounds__(kThreadsPerBlock)
    factors_kernel(SynthIdSampleArgs a, Scratch s, int p) {
  __shared__ double marg[2][kSynthIdBins];
  __shared__ double tree[2][kSynthIdBins];  // [0, half): even entries; [half, 2 half): odd
  __shared__ double c[kSynthIdPhaseBits][2];
  const int64_t b = blockIdx.x;
  const RowState st = s.state[b];
  if (st.max_key <= kNoLogitKey || !st.marked) return;
  const int bits = min(kSynthIdPhaseBits, a.layers - p * kSynthIdPhaseBits);
  const uint64_t* h = s.hist + (b * phase_count(a.layers) + p) * kSynthIdBins;
  int cur = 0;
  for (int q = threadIdx.x; q < (1 << bits); q += kThreadsPerBlock) {
    marg[0][q] = static_cast<double>(h[q]);
  }
  __syncthreads();
  for (int j = 0, n = 1 << bits; j < bits; ++j, n /= 2) {
    const int half = n / 2;
    for (int i = threadIdx.x; i < n; i += kThreadsPerBlock) {
      tree[0][(i & 1) * half + i / 2] = marg[cur][i];
    }
    __syncthreads();
    int t = 0;
    for (int len = half; len > 1; len /= 2, t ^= 1) {
      // Both halves at once: item i < len of the next level is pair (2i, 2i + 1) of its half.
      for (int i = threadIdx.x; i < len; i += kThreadsPerBlock) {
        const int g = i / (len / 2), k = i % (len / 2);
        tree[t ^ 1][g * half + k] = tree[t][g * half + 2 * k] + tree[t][g * half + 2 * k + 1];
      }
      __syncthreads();
    }
    const double e = synthid_expected(tree[t][0], tree[t][half]);
    const double c0 = 1.0 - e, c1 = 2.0 - e;
    for (int i = threadIdx.x; i < half; i += kThreadsPerBlock) {
      marg[cur ^ 1][i] = c0 * marg[cur][2 * i] + c1 * marg[cur][2 * i + 1];
    }
    if (threadIdx.x == 0) {
      c[j][0] = c0;
      c[j][1] = c1;
    }
    cur ^= 1;
    __syncthreads();
  }
  for (int q = threadIdx.x; q < (1 << bits); q += kThreadsPerBlock) {
    double x = 1.0;
    for (int j = 0; j < bits; ++j) x *= c[j][(q >> j) & 1];
    s.factors[b * kSynthIdBins + q] = x;
  }
}

// The draw of row b: the first candidate whose fixed-point running sum exceeds the target.
__global__ void __launch_bounds__(kThreadsPerBlock)
    select_kernel(SynthIdSampleArgs a, const int32_t* cand, Scratch s, int64_t chunks) {
  __shared__ uint64_t scan[kThreadsPerBlock];
  __shared__ int64_t chunk;
  __shared__ uint64_t rest;  // target minus the totals of the chunks before `chunk`
  const int64_t b = blockIdx.x;
  const RowState st = s.state[b];
  if (st.max_key <= kNoLogitKey) {
    if (threadIdx.x == 0) {
      a.out[b] = kSynthIdNoFiniteLogit;
      a.marked[b] = 0;
    }
    return;
  }
  const uint64_t* totals = s.chunk_total + b * chunks;
  if (threadIdx.x == 0) {
    uint64_t total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += totals[c];
    uint64_t target = synthid_draw_target(total, a.uniforms[b]);
    // A uniform outside [0, 1) (not checked: that needs a host sync) draws the last candidate
    // rather than leaving the output unwritten.
    if (!(target < total)) target = total - 1;
    int64_t c = 0;
    while (c + 1 < chunks && totals[c] <= target) target -= totals[c++];
    chunk = c;
    rest = target;
  }
  __syncthreads();
  const int64_t begin = chunk * kChunk, end = begin + kChunk < a.vocab ? begin + kChunk : a.vocab;
  const uint64_t* v = reinterpret_cast<const uint64_t*>(s.w + b * a.vocab);
  const int64_t lo = begin + static_cast<int64_t>(threadIdx.x) * kPerThread;
  const int64_t hi = lo + kPerThread < end ? lo + kPerThread : end;
  uint64_t mine = 0;
  for (int64_t i = lo; i < hi; ++i) mine += v[i];
  scan[threadIdx.x] = mine;
  __syncthreads();
  for (int off = 1; off < kThreadsPerBlock; off *= 2) {  // inclusive scan (Hillis-Steele)
    const uint64_t add = threadIdx.x >= off ? scan[threadIdx.x - off] : 0;
    __syncthreads();
    scan[threadIdx.x] += add;
    __syncthreads();
  }
  uint64_t c = scan[threadIdx.x] - mine;        // exclusive prefix
  if (c <= rest && rest < scan[threadIdx.x]) {  // exactly one thread: the crossing is here
    int64_t i = lo;
    for (; i < hi; ++i) {
      c += v[i];
      if (c > rest) break;
    }
    a.out[b] = cand ? cand[b * a.vocab + i] : i;
    a.marked[b] = static_cast<uint8_t>(st.marked);
  }
}

}  // namespace

size_t sample_synthid_workspace_bytes(int64_t batch, int64_t n, int layers) {
  if (batch <= 0 || n <= 0 || layers < 1 || layers > kSynthIdMaxLayers) return 0;
  return layout(batch, n, layers).total;
}

cudaError_t sample_synthid_cuda(const SynthIdSampleArgs& a, const int32_t* cand, void* workspace,
                                size_t workspace_bytes, cudaStream_t stream) {
  if (a.batch < 0 || a.vocab < 0 || a.width < 0 || a.top_k != 0) return cudaErrorInvalidValue;
  if (a.layers < 1 || a.layers > kSynthIdMaxLayers) return cudaErrorInvalidValue;
  if (a.batch == 0) return cudaSuccess;
  const int64_t chunks = ceil_div(a.vocab > 0 ? a.vocab : 1, kChunk);
  if (a.batch > INT32_MAX || chunks > 65535) return cudaErrorInvalidValue;
  const Layout l = layout(a.batch, a.vocab > 0 ? a.vocab : 1, a.layers);
  if (workspace_bytes < l.total) return cudaErrorInvalidValue;
  char* base = static_cast<char*>(workspace);
  const Scratch s{reinterpret_cast<RowState*>(base + l.state),
                  reinterpret_cast<uint64_t*>(base + l.hist),
                  reinterpret_cast<double*>(base + l.factors),
                  reinterpret_cast<uint64_t*>(base + l.chunk_total),
                  reinterpret_cast<double*>(base + l.w),
                  reinterpret_cast<uint32_t*>(base + l.words)};
  cudaError_t err = cudaMemsetAsync(base, 0, l.factors, stream);  // state and histograms
  if (err != cudaSuccess) return err;
  const dim3 grid(static_cast<unsigned>(a.batch), static_cast<unsigned>(chunks));
  const unsigned rows = static_cast<unsigned>(a.batch);
  if (a.vocab > 0) {
    setup_kernel<<<grid, kThreadsPerBlock, 0, stream>>>(a, s);
    const double scale = ldexp(1.0, synthid_fixed_shift(a.vocab));
    const int phases = phase_count(a.layers);
    for (int p = 0; p <= phases; ++p) {
      if (p > 0) factors_kernel<<<rows, kThreadsPerBlock, 0, stream>>>(a, s, p - 1);
      pass_kernel<<<grid, kThreadsPerBlock, 0, stream>>>(a, cand, s, p, scale);
    }
  }
  select_kernel<<<rows, kThreadsPerBlock, 0, stream>>>(a, cand, s, chunks);
  return cudaGetLastError();
}

}  // namespace tokenmark::cuda
