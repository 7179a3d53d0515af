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
  tokenmark::RowArgs<const void> a{};
  a.logits = logits;
  a.batch = batch;
  a.vocab = vocab;
  a.logits_row_stride = row_stride;
  a.dtype = static_cast<tokenmark::LogitsDtype>(dtype);
  a.input_ids = ids;
  a.ids_is_int64 = ids_is_int64 != 0;
  a.ids_len = ids_len;
  a.ids_row_stride = ids_stride;
  a.keys = keys;
  a.key_stride = key_stride;
  a.enabled = enabled;
  a.width = width;
  a.seeding = seeding;
  return a;
}

}  // namespace tm_emu
