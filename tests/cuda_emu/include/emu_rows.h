// The row arguments (csrc/include/tokenmark/common_params.h) of the emulator's sampling entry
// points, from the flat C signature they share (ctypes passes plain pointers and integers).
#pragma once

#include <cstdint>

#include "tokenmark/common_params.h"

namespace tm_emu {

inline tokenmark::RowArgs<const void> row_args(const void* logits, int64_t batch, int64_t vocab,
                                               int64_t row_stride, int dtype, const void* ids,
                                               int ids_is_int64, int64_t ids_len,
                                               int64_t ids_stride, const uint32_t* keys,
                                               int64_t key_stride, const uint8_t* enabled,
                                               int width, int seeding) {
  return {.logits = logits,
          .batch = batch,
          .vocab = vocab,
          .logits_row_stride = row_stride,
          .dtype = static_cast<tokenmark::LogitsDtype>(dtype),
          .input_ids = ids,
          .ids_is_int64 = ids_is_int64 != 0,
          .ids_len = ids_len,
          .ids_row_stride = ids_stride,
          .keys = keys,
          .key_stride = key_stride,
          .enabled = enabled,
          .width = width,
          .seeding = seeding};
}

}  // namespace tm_emu
