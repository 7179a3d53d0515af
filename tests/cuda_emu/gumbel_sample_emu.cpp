// Gumbel sampler (csrc/cuda/gumbel_sample.cu) under the host emulation: C entry points on host
// pointers for tests/cuda_emu/test_cuda_emu_gumbel.py.
#include <vector>

#include "emu_rows.h"
#include "gumbel_sample.cu"  // the copy with its launches rewritten (cuda_emu_build.py)

extern "C" {

const char* emu_message() { return ::tm_emu::last_message().c_str(); }

void emu_seed(uint64_t seed) { ::tm_emu::launch_seed() = seed; }

int64_t emu_launches() { return ::tm_emu::launches(); }

int64_t emu_split_min_vocab() { return tokenmark::cuda::kGumbelSplitMinVocab; }

int emu_sample_gumbel(const void* logits, int64_t batch, int64_t vocab, int64_t row_stride,
                      int dtype, const void* ids, int ids_is_int64, int64_t ids_len,
                      int64_t ids_stride, const uint32_t* keys, int64_t key_stride,
                      const uint32_t* salts, int64_t salt_stride, const uint8_t* enabled, int width,
                      int seeding, int skip_repeated, int64_t splits, int64_t* out) {
  using namespace tokenmark;
  GumbelSampleArgs a{};
  static_cast<RowArgs<const void>&>(a) =
      ::tm_emu::row_args(logits, batch, vocab, row_stride, dtype, ids, ids_is_int64, ids_len,
                         ids_stride, keys, key_stride, enabled, width, seeding);
  a.salts = salts;
  a.salt_stride = salt_stride;
  a.skip_repeated = skip_repeated != 0;
  a.out = out;
  const size_t bytes = cuda::sample_gumbel_workspace_bytes(batch, vocab);
  std::vector<double> ws(bytes / 8 + 1);
  std::memset(ws.data(), 0xA5, ws.size() * 8);  // poisoned: every slot read must be written
  return cuda::sample_gumbel_cuda(a, splits, ws.data(), bytes, nullptr);
}

}  // extern "C"
