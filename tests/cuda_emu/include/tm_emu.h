// Host emulation of the CUDA subset our kernels use, for tests on machines without a GPU.
//
// The kernel sources (csrc/cuda/*.cu) compile unchanged as host C++ against this header (it
// stands in for cuda_runtime.h, cuda_fp16.h and cuda_bf16.h); only the launch syntax
// `k<<<grid, block, smem, stream>>>(args)` is rewritten by the test build into
// `::tm_emu::kernel(k, grid, block, smem, stream)(args)`.
//
// Execution model. Blocks run one at a time, in a seeded random order (so results that must not
// depend on block order, such as atomics into shared totals, are checked for it). The threads of
// a block are fibers (ucontext) on one OS thread; a fiber runs until it reaches a barrier
// (__syncthreads, __syncwarp, a shuffle or a vote) or returns, and the scheduler resumes the
// runnable fibers in a random order each sweep, so a missing barrier between a shared-memory
// write and another thread's read shows up as a wrong or varying result. A barrier that can
// never complete (divergent __syncthreads, a shuffle whose partner lane exited) is reported as
// a launch error instead of hanging, and so is a __syncthreads that some threads of the block
// exit without reaching (CUDA requires it block-uniform).
//
// What it does not emulate: concurrency between blocks (a kernel that waits on another block
// would deadlock here), the weak memory model (__threadfence is a no-op: every access is
// sequentially consistent), hardware approximations (__expf, __logf and other SFU intrinsics
// are not provided, so a kernel using them fails to compile here; expf, log and the other math
// functions are the host's, which may differ from CUDA's in the last bits), and warp-synchronous
// code that relies on lock-step execution without __syncwarp (fibers of a warp do not run in lock
// step).
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Shared memory is per block; blocks run one at a time, so one static instance per variable
// serves every block (CUDA does not initialise shared memory either).
#define __shared__ static

using std::isfinite;
using std::isinf;
using std::isnan;
using std::ldexp;
using std::rint;

struct uint3 {
  unsigned x, y, z;
};

// The 16-byte vector type (kernels load and store aligned groups of logits through it).
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorLaunchFailure = 719 };
using cudaStream_t = struct CUstream_st*;

namespace tm_emu {

constexpr int kWarp = 32;
constexpr size_t kStackBytes = 256 * 1024;

enum class State { kRunnable, kWaitBlock, kWaitWarp, kDone };

struct Fiber {
  ucontext_t ctx;
  State state = State::kRunnable;
  unsigned mask = 0;       // the mask of the warp barrier it waits at
  unsigned char slot[16];  // a shuffle's outgoing value
  uint3 tid{0, 0, 0};
  int linear = 0;
};

struct Block {
  std::vector<Fiber> fibers;
  uint3 bid{0, 0, 0};
  dim3 block, grid;
  int done = 0, waiting_block = 0;
  std::vector<int> waiting_warp;
  std::string error;
  Fiber* current = nullptr;
  ucontext_t scheduler;
};

inline Block*& current_block() {
  static Block* b = nullptr;
  return b;
}

inline cudaError_t& last_error() {
  static cudaError_t e = cudaSuccess;
  return e;
}

inline std::string& last_message() {
  static std::string m;
  return m;
}

inline uint64_t& launch_seed() {
  static uint64_t s = 0x5EEDu;
  return s;
}

// Kernel launches so far (tests check which path a launcher took).
inline int64_t& launches() {
  static int64_t n = 0;
  return n;
}

inline Fiber& self() { return *current_block()->current; }

// Back to the scheduler; returns when this fiber is resumed.
inline void yield() {
  Block* b = current_block();
  swapcontext(&b->current->ctx, &b->scheduler);
}

// An emulation error inside a kernel: recorded, the fiber stops for good, the launch fails.
[[noreturn]] inline void fail(const std::string& what) {
  Block* b = current_block();
  if (b->error.empty()) b->error = what;
  b->current->state = State::kDone;
  ++b->done;
  swapcontext(&b->current->ctx, &b->scheduler);
  std::abort();  // never resumed
}

inline void release_block_if_complete(Block* b) {
  const int alive = static_cast<int>(b->fibers.size()) - b->done;
  if (b->waiting_block > 0 && b->waiting_block == alive) {
    for (Fiber& f : b->fibers) {
      if (f.state == State::kWaitBlock) f.state = State::kRunnable;
    }
    b->waiting_block = 0;
  }
}

inline void sync_block() {
  Block* b = current_block();
  if (b->done > 0) fail("divergent __syncthreads: threads of the block exited without it");
  b->current->state = State::kWaitBlock;
  ++b->waiting_block;
  release_block_if_complete(b);
  yield();
}

inline int lane_id() { return self().linear % kWarp; }

// A warp barrier over the lanes of `mask`: every lane in it must arrive with the same mask.
inline void sync_warp(unsigned mask) {
  Block* b = current_block();
  Fiber& f = self();
  const int warp = f.linear / kWarp, lane = f.linear % kWarp;
  if (!((mask >> lane) & 1u)) fail("a lane outside its own warp mask called a warp primitive");
  const int first = warp * kWarp;
  for (int l = 0; l < kWarp; ++l) {
    if (!((mask >> l) & 1u)) continue;
    if (first + l >= static_cast<int>(b->fibers.size())) fail("warp mask names a missing lane");
    const Fiber& g = b->fibers[first + l];
    if (g.state == State::kDone) fail("warp primitive: a lane of its mask has exited");
    if (g.state == State::kWaitWarp && g.mask != mask) fail("warp lanes disagree on the mask");
  }
  f.state = State::kWaitWarp;
  f.mask = mask;
  if (++b->waiting_warp[warp] == __builtin_popcount(mask)) {
    for (int l = 0; l < kWarp; ++l) {
      if ((mask >> l) & 1u) b->fibers[first + l].state = State::kRunnable;
    }
    b->waiting_warp[warp] = 0;
  }
  yield();
}

// Value `v` of lane `src` of this warp (the lanes of `mask` exchange through their slots).
template <typename T>
T exchange(unsigned mask, T v, int src, bool take_own) {
  static_assert(sizeof(T) <= 16, "shuffle of a type wider than 16 bytes");
  Fiber& f = self();
  std::memcpy(f.slot, &v, sizeof(T));
  sync_warp(mask);
  T out = v;
  if (!take_own) {
    if (!((mask >> src) & 1u)) fail("shuffle reads a lane outside the mask");
    Block* b = current_block();
    std::memcpy(&out, b->fibers[(f.linear / kWarp) * kWarp + src].slot, sizeof(T));
  }
  sync_warp(mask);  // every lane has read before any slot is written again
  return out;
}

inline void fiber_main(unsigned lo, unsigned hi);

struct LaunchState {
  void (*body)(void*) = nullptr;
  void* arg = nullptr;
};

inline LaunchState& launch_state() {
  static LaunchState s;
  return s;
}

inline void fiber_main(unsigned, unsigned) {
  LaunchState& s = launch_state();
  s.body(s.arg);
  Block* b = current_block();
  if (b->waiting_block > 0 && b->error.empty()) {
    b->error = "divergent __syncthreads: a thread exited while others wait at one";
  }
  b->current->state = State::kDone;
  ++b->done;
  release_block_if_complete(b);
}

// Runs `body(arg)` as every thread of every block of the grid.
inline cudaError_t run_grid(dim3 grid, dim3 block, void (*body)(void*), void* arg) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0) {
    return cudaErrorInvalidValue;
  }
  std::vector<uint3> order;
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) order.push_back(uint3{x, y, z});
    }
  }
  ++launches();
  std::mt19937_64 rng(launch_seed()++);
  std::shuffle(order.begin(), order.end(), rng);
  launch_state() = LaunchState{body, arg};
  static std::vector<std::unique_ptr<char[]>> stacks;
  while (stacks.size() < threads) stacks.emplace_back(new char[kStackBytes]);
  for (const uint3& bid : order) {
    Block b;
    b.bid = bid;
    b.block = block;
    b.grid = grid;
    b.fibers.resize(threads);
    b.waiting_warp.assign((threads + kWarp - 1) / kWarp, 0);
    for (uint64_t t = 0; t < threads; ++t) {
      Fiber& f = b.fibers[t];
      f.linear = static_cast<int>(t);
      f.tid =
          uint3{static_cast<unsigned>(t % block.x), static_cast<unsigned>(t / block.x % block.y),
                static_cast<unsigned>(t / (uint64_t{block.x} * block.y))};
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = stacks[t].get();
      f.ctx.uc_stack.ss_size = kStackBytes;
      f.ctx.uc_link = &b.scheduler;
      makecontext(&f.ctx, reinterpret_cast<void (*)()>(fiber_main), 2, 0u, 0u);
    }
    current_block() = &b;
    std::vector<int> sweep(threads);
    for (uint64_t t = 0; t < threads; ++t) sweep[t] = static_cast<int>(t);
    while (b.done < static_cast<int>(threads) && b.error.empty()) {
      std::shuffle(sweep.begin(), sweep.end(), rng);
      bool ran = false;
      for (int t : sweep) {
        if (b.fibers[t].state != State::kRunnable || !b.error.empty()) continue;
        b.current = &b.fibers[t];
        swapcontext(&b.scheduler, &b.fibers[t].ctx);
        ran = true;
      }
      if (!ran && b.done < static_cast<int>(threads) && b.error.empty()) {
        b.error = "deadlock: threads wait at a barrier that cannot complete";
      }
    }
    current_block() = nullptr;
    if (!b.error.empty()) {
      char where[96];
      std::snprintf(where, sizeof(where), " (block %u,%u,%u)", bid.x, bid.y, bid.z);
      last_message() = b.error + where;
      return cudaErrorLaunchFailure;
    }
  }
  return cudaSuccess;
}

// `kernel(f, grid, block, smem, stream)(args...)`: the rewritten form of f<<<...>>>(args...).
template <typename... P>
auto kernel(void (*f)(P...), dim3 grid, dim3 block, size_t smem = 0, cudaStream_t = nullptr) {
  return [=](auto&&... args) {
    if (smem != 0) {
      last_error() = cudaErrorInvalidValue;  // dynamic shared memory is not emulated
      last_message() = "dynamic shared memory is not emulated";
      return;
    }
    struct Call {
      void (*f)(P...);
      std::tuple<std::decay_t<P>...> args;
    } call{f, std::tuple<std::decay_t<P>...>(args...)};
    const cudaError_t err = run_grid(
        grid, block,
        [](void* p) { std::apply(static_cast<Call*>(p)->f, static_cast<Call*>(p)->args); }, &call);
    if (err != cudaSuccess && last_error() == cudaSuccess) last_error() = err;
  };
}

}  // namespace tm_emu

#define threadIdx (::tm_emu::self().tid)
#define blockIdx (::tm_emu::current_block()->bid)
#define blockDim (::tm_emu::current_block()->block)
#define gridDim (::tm_emu::current_block()->grid)
#define warpSize 32

inline void __syncthreads() { ::tm_emu::sync_block(); }
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu) { ::tm_emu::sync_warp(mask); }
inline void __threadfence() {}
inline void __threadfence_block() {}

template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const int lane = ::tm_emu::lane_id(), base = lane & ~(width - 1);
  return ::tm_emu::exchange(mask, v, base + (src & (width - 1)), false);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = ::tm_emu::lane_id(), src = lane ^ lane_mask;
  const bool own = (src & ~(width - 1)) != (lane & ~(width - 1)) || src >= 32;
  return ::tm_emu::exchange(mask, v, own ? lane : src, own);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = ::tm_emu::lane_id(), src = lane + static_cast<int>(delta);
  const bool own = (src & ~(width - 1)) != (lane & ~(width - 1));
  return ::tm_emu::exchange(mask, v, own ? lane : src, own);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = ::tm_emu::lane_id(), src = lane - static_cast<int>(delta);
  const bool own = src < (lane & ~(width - 1));
  return ::tm_emu::exchange(mask, v, own ? lane : src, own);
}

inline unsigned __ballot_sync(unsigned mask, int pred) {
  unsigned bits = 0;
  for (int l = 0; l < 32; ++l) {
    if ((mask >> l) & 1u) bits |= (::tm_emu::exchange(mask, pred ? 1 : 0, l, false) ? 1u : 0u) << l;
  }
  return bits;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// Atomics: the fibers of one OS thread never interleave inside a call, so plain updates are
// atomic. The value converts to the pointee type, as CUDA's overloads do.
template <typename T>
T atomicAdd(T* p, std::type_identity_t<T> v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <typename T>
T atomicMax(T* p, std::type_identity_t<T> v) {
  const T old = *p;
  *p = old > v ? old : v;
  return old;
}
template <typename T>
T atomicMin(T* p, std::type_identity_t<T> v) {
  const T old = *p;
  *p = old < v ? old : v;
  return old;
}
template <typename T>
T atomicCAS(T* p, std::type_identity_t<T> compare, std::type_identity_t<T> v) {
  const T old = *p;
  if (old == compare) *p = v;
  return old;
}
template <typename T>
T atomicExch(T* p, std::type_identity_t<T> v) {
  const T old = *p;
  *p = v;
  return old;
}
template <typename T>
T atomicOr(T* p, std::type_identity_t<T> v) {
  const T old = *p;
  *p = old | v;
  return old;
}

template <typename T>
T __ldcg(const T* p) {
  return *p;
}

// The cycle counter: one tick per read, so stamps are increasing in the order they are taken.
inline long long clock64() {
  static long long ticks = 0;
  return ++ticks;
}

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max(int64_t a, int64_t b) { return a > b ? a : b; }
inline unsigned __float_as_uint(float x) {
  unsigned u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
inline unsigned long long __double_as_longlong(double x) {
  unsigned long long u;
  std::memcpy(&u, &x, 8);
  return u;
}
inline uint64_t __umul64hi(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }

// 16-bit floats: the bit patterns, exact conversions to float, and the round-to-nearest-even
// narrowings from float (__float2half_rn, __float2bfloat16_rn). A NaN narrows to the canonical
// NaN 0x7FFF, as the device's cvt instructions give it.
struct __half {
  unsigned short bits;
};
struct __nv_bfloat16 {
  unsigned short bits;
};
inline __half __ushort_as_half(unsigned short b) { return __half{b}; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short b) { return __nv_bfloat16{b}; }
inline float __bfloat162float(__nv_bfloat16 h) { return __uint_as_float(unsigned{h.bits} << 16); }
inline float __half2float(__half h) {
  const unsigned sign = (h.bits & 0x8000u) << 16, exp = (h.bits >> 10) & 0x1Fu,
                 man = h.bits & 0x3FFu;
  if (exp == 0x1Fu) return __uint_as_float(sign | 0x7F800000u | (man << 13));
  if (exp != 0) return __uint_as_float(sign | ((exp + 112u) << 23) | (man << 13));
  const float mag = std::ldexp(static_cast<float>(man), -24);  // subnormal (or zero): exact
  return sign ? -mag : mag;
}

inline __half __float2half_rn(float x) {
  const unsigned u = __float_as_uint(x), sign = (u >> 16) & 0x8000u, mag = u & 0x7FFFFFFFu;
  if (mag > 0x7F800000u) return __half{0x7FFF};
  // 65520 and above (halfway past the largest half, 65504, and up) round to infinity.
  if (mag >= 0x477FF000u) return __half{static_cast<unsigned short>(sign | 0x7C00u)};
  if (mag >= 0x38800000u) {  // a normal half: rebias the exponent, round off 13 mantissa bits
    const unsigned rebiased = mag - (112u << 23);
    const unsigned bits = (rebiased + 0xFFFu + ((rebiased >> 13) & 1u)) >> 13;
    return __half{static_cast<unsigned short>(sign | bits)};
  }
  // Subnormal (or zero): multiples of 2^-24; the scaling is exact and rint rounds to even (a
  // result of 0x400 is the smallest normal half, encoded the same way).
  const float units = std::rint(std::ldexp(__uint_as_float(mag), 24));
  return __half{static_cast<unsigned short>(sign | static_cast<unsigned>(units))};
}
inline __nv_bfloat16 __float2bfloat16_rn(float x) {
  const unsigned u = __float_as_uint(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return __nv_bfloat16{0x7FFF};
  return __nv_bfloat16{static_cast<unsigned short>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16)};
}

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = ::tm_emu::last_error();
  ::tm_emu::last_error() = cudaSuccess;
  return e;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t = nullptr) {
  std::memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, int = 0,
                                   cudaStream_t = nullptr) {
  std::memmove(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
// A small emulated device: grid-stride kernels then take several strides per thread.
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) {
  *v = 2;
  return cudaSuccess;
}
// Two resident blocks per SM of the emulated device, whatever the kernel.
template <typename Kernel>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, Kernel, int, size_t) {
  *n = 2;
  return cudaSuccess;
}
