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

// Blocks that fill the current device. The SM count is cached per device: the attribute query
// would otherwise cost a driver call on every decode step.
inline cudaError_t device_grid_cap(int* blocks) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices];
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  int sms = device < kMaxDevices ? cache[device].load(std::memory_order_relaxed) : 0;
  if (sms == 0) {
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err != cudaSuccess) return err;
    if (device < kMaxDevices) cache[device].store(sms, std::memory_order_relaxed);
  }
  *blocks = sms * kBlocksPerSm;
  return cudaSuccess;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace tokenmark::cuda
