#include "one_hot.h"

#include <algorithm>
#include <limits>

namespace tokenmark::cpu {
namespace {

template <typename T>
void fill_row(T* row, int64_t vocab, T minus_inf, T zero, int64_t token) {
  std::fill(row, row + vocab, minus_inf);
  row[token] = zero;
}

}  // namespace

void one_hot_rows_(void* logits, LogitsDtype dtype, int64_t batch, int64_t vocab,
                   int64_t row_stride, const int64_t* tokens) {
  for (int64_t b = 0; b < batch; ++b) {
    if (tokens[b] < 0) continue;
    if (dtype == kFloat32) {
      fill_row(static_cast<float*>(logits) + b * row_stride, vocab,
               -std::numeric_limits<float>::infinity(), 0.0f, tokens[b]);
    } else {
      // -inf as float16 (0xFC00) or bfloat16 (0xFF80) bits; +0 is all zero bits in both.
      const uint16_t minus_inf = dtype == kFloat16 ? 0xFC00u : 0xFF80u;
      fill_row(static_cast<uint16_t*>(logits) + b * row_stride, vocab, minus_inf, uint16_t{0},
               tokens[b]);
    }
  }
}

}  // namespace tokenmark::cpu
