// The processors' step after a sampler: each row that got a token becomes one-hot at it.
#pragma once

#include <cstdint>

#include "tokenmark/types.h"

namespace tokenmark::cpu {

// Rows b with tokens[b] >= 0 of `logits` [batch, row_stride] (the first `vocab` entries of each
// row) become 0 at tokens[b] and -inf elsewhere; the other rows stay as they are.
void one_hot_rows_(void* logits, LogitsDtype dtype, int64_t batch, int64_t vocab,
                   int64_t row_stride, const int64_t* tokens /* [batch] */);

}  // namespace tokenmark::cpu
