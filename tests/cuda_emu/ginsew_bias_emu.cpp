// GINSEW embedding (csrc/cuda/ginsew_bias.cu) under the host emulation: a C entry point on host
// pointers for test_cuda_emu_ginsew_bias.py.
#include "ginsew_bias.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int emu_apply_ginsew(void* logits, int64_t batch, int64_t vocab, int64_t row_stride, int dtype,
                     const void* ids, int ids_is_int64, int64_t ids_len, int64_t ids_stride,
                     const uint32_t* keys, int64_t key_stride, const uint32_t* thresholds,
                     int64_t threshold_stride, const double* epsilons, int64_t epsilon_stride,
                     const double* frequencies, int64_t frequency_stride, const uint8_t* enabled,
                     int width, int position) {
  using namespace tokenmark;
  GinsewArgs a{};
  a.logits = logits;
  a.batch = batch;
  a.vocab = vocab;
  a.logits_row_stride = row_stride;
  a.dtype = static_cast<LogitsDtype>(dtype);
  a.input_ids = ids;
  a.ids_is_int64 = ids_is_int64 != 0;
  a.ids_len = ids_len;
  a.ids_row_stride = ids_stride;
  a.keys = keys;
  a.key_stride = key_stride;
  a.thresholds = thresholds;
  a.threshold_stride = threshold_stride;
  a.epsilons = epsilons;
  a.epsilon_stride = epsilon_stride;
  a.frequencies = frequencies;
  a.frequency_stride = frequency_stride;
  a.enabled = enabled;
  a.width = width;
  a.position = position;
  return cuda::apply_ginsew_cuda(a, nullptr);
}

}  // extern "C"
