// KGW bias (csrc/cuda/kgw_bias.cu) under the host emulation: a C entry point on host pointers
// for test_cuda_emu_kgw_bias.py.
#include "emu_rows.h"
#include "kgw_bias.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_apply_kgw_bias(void* logits, int64_t batch, int64_t vocab, int64_t row_stride, int dtype,
                       const void* ids, int ids_is_int64, int64_t ids_len, int64_t ids_stride,
                       const uint32_t* keys, int64_t key_stride, const uint32_t* thresholds,
                       int64_t threshold_stride, const float* deltas, int64_t delta_stride,
                       const uint8_t* enabled, int width, int seeding) {
  using namespace tokenmark;
  KgwBiasArgs a{};
  static_cast<RowArgs<void>&>(a) =
      ::tm_emu::row_args(logits, batch, vocab, row_stride, dtype, ids, ids_is_int64, ids_len,
                         ids_stride, keys, key_stride, enabled, width, seeding);
  a.thresholds = thresholds;
  a.threshold_stride = threshold_stride;
  a.deltas = deltas;
  a.delta_stride = delta_stride;
  return cuda::apply_kgw_bias_cuda(a, nullptr);
}

}  // extern "C"
