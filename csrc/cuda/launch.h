// Launch geometry shared by the CUDA kernels: grids sized to the device, SM counts cached.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

namespace tokenmark::cuda {

constexpr int kThreads = 256;
// Resident blocks we aim for per SM (2048 threads on Ampere and Hopper). Grid-stride loops make
// the count a performance knob only: more blocks than fit just run as a further wave.
constexpr int kBlocksPerSm = 8;

// A per-device value, `query(device, &value)` for the current device, cached in `cache` (one
// entry per device; 0: not yet known) so that a decode step pays no driver call for it.
constexpr int kMaxCachedDevices = 64;
template <typename Query>
cudaError_t per_device_cached(std::atomic<int> (&cache)[kMaxCachedDevices], int* value,
                              Query query) {
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  *value = device < kMaxCachedDevices ? cache[device].load(std::memory_order_relaxed) : 0;
  if (*value > 0) return cudaSuccess;
  err = query(device, value);
  if (err == cudaSuccess && device < kMaxCachedDevices) {
    cache[device].store(*value, std::memory_order_relaxed);
  }
  return err;
}

// The current device's SM count.
inline cudaError_t device_sm_count(int* sms) {
  static std::atomic<int> cache[kMaxCachedDevices];
  return per_device_cached(cache, sms, [](int device, int* v) {
    return cudaDeviceGetAttribute(v, cudaDevAttrMultiProcessorCount, device);
  });
}

// Blocks that fill the current device.
inline cudaError_t device_grid_cap(int* blocks) {
  int sms = 0;
  const cudaError_t err = device_sm_count(&sms);
  *blocks = sms * kBlocksPerSm;
  return err;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace tokenmark::cuda
