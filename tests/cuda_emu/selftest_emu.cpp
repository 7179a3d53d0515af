// Small kernels that check the emulation itself (tm_emu.h): warp shuffle and vote semantics,
// that hangs and races of real GPUs show up here as errors or varying results, and the 16-bit
// float narrowings.
#include <cuda_runtime.h>

#include <cstdint>

namespace {

// out[t] = each primitive's result for thread t of one warp (width 32 and 8).
__global__ void shuffle_kernel(int* out) {
  const int lane = threadIdx.x;
  const unsigned all = 0xFFFFFFFFu;
  out[0 * 32 + lane] = __shfl_sync(all, lane * 10, 5);
  out[1 * 32 + lane] = __shfl_xor_sync(all, lane * 10, 3);
  out[2 * 32 + lane] = __shfl_down_sync(all, lane * 10, 4);
  out[3 * 32 + lane] = __shfl_up_sync(all, lane * 10, 4);
  out[4 * 32 + lane] = __shfl_down_sync(all, lane * 10, 3, 8);
  out[5 * 32 + lane] = __shfl_sync(all, lane * 10, 9, 8);
  out[6 * 32 + lane] = static_cast<int>(__ballot_sync(all, lane % 3 == 0) & 0x7FFFFFFF);
  out[7 * 32 + lane] = __any_sync(all, lane == 31) + 2 * __all_sync(all, lane < 31);
}

// A __syncthreads that half the block never reaches: a hang on a GPU.
__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1;
}

// A shuffle whose partner lane has exited.
__global__ void exited_partner_kernel(int* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xFFFFFFFFu, 1, 16);
}

// Reads a neighbour's shared-memory write with (barrier != 0) or without a barrier between.
__global__ void neighbour_kernel(int* out, int barrier) {
  __shared__ int v[64];
  v[threadIdx.x] = static_cast<int>(threadIdx.x) + 1000 * (blockIdx.x + 1);
  if (barrier) __syncthreads();
  out[blockIdx.x * 64 + threadIdx.x] = v[(threadIdx.x + 1) % 64];
}

}  // namespace

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_shuffles(int* out) {
  shuffle_kernel<<<1, 32>>>(out);
  return cudaGetLastError();
}

int emu_divergent_barrier(int* out) {
  divergent_barrier_kernel<<<1, 32>>>(out);
  return cudaGetLastError();
}

int emu_exited_partner(int* out) {
  exited_partner_kernel<<<1, 32>>>(out);
  return cudaGetLastError();
}

int emu_neighbour(int* out, int barrier) {
  neighbour_kernel<<<3, 64>>>(out, barrier);
  return cudaGetLastError();
}

// The narrowing conversions of cuda_fp16.h / cuda_bf16.h (plain functions: no launch needed).
void emu_narrow(const float* in, int64_t n, uint16_t* half_bits, uint16_t* bf16_bits) {
  for (int64_t i = 0; i < n; ++i) {
    half_bits[i] = __float2half_rn(in[i]).bits;
    bf16_bits[i] = __float2bfloat16_rn(in[i]).bits;
  }
}

}  // extern "C"
