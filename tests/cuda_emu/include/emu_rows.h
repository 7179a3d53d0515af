// The row arguments (csrc/include/tokenmark/common_params.h) of the emulator's sampling entry
// points, and the document arguments of its scoring ones, from the flat C signatures they share
// (ctypes passes plain pointers and integers).
#pragma once

#include <cstdint>

#include "tokenmark/common_params.h"

namespace tm_emu {

// LogitsT: `const void` for the samplers, `void` for the ops that write their logits in place.
template <typename LogitsT>
tokenmark::RowArgs<LogitsT> row_args(LogitsT* logits, int64_t batch, int64_t vocab,
                                     int64_t row_stride, int dtype, const void* ids,
                                     int ids_is_int64, int64_t ids_len, int64_t ids_stride,
                                     const uint32_t* keys, int64_t key_stride,
                                     const uint8_t* enabled, int width, int seeding) {
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

// DocArgs' fields into `a` (a scorer's args struct deriving from it); key null: all zero.
inline void doc_args(tokenmark::DocArgs& a, const int32_t* tokens, int64_t n_tokens,
                     const int64_t* offsets, int64_t n_docs, const int64_t* prefix,
                     const uint32_t* key, int width, int seeding, int dedup, int64_t* n_scored,
                     uint8_t* counted) {
  a.tokens = tokens;
  a.n_tokens = n_tokens;
  a.offsets = offsets;
  a.n_docs = n_docs;
  a.prefix = prefix;
  for (int k = 0; k < 4; ++k) a.key[k] = key ? key[k] : 0;
  a.width = width;
  a.seeding = seeding;
  a.dedup = dedup != 0;
  a.n_scored = n_scored;
  a.counted = counted;
}

}  // namespace tm_emu
