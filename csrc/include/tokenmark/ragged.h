// Ragged documents: tokens[offsets[d]:offsets[d+1]], the first max(width, prefix[d]) tokens of
// each context only.
#pragma once

#include <cstdint>

#include "tokenmark/prf.h"  // TM_HD

namespace tokenmark {

// First scored position of document d. The skip is clamped to the document's length before it
// is added, so any prefix (up to 2^63 - 1) is safe; a negative one counts as 0.
TM_HD int64_t scored_begin(const int64_t* offsets, const int64_t* prefix, int32_t width,
                           int64_t d) {
  const int64_t lo = offsets[d], len = offsets[d + 1] - lo;
  int64_t skip = prefix ? prefix[d] : 0;
  if (skip < width) skip = width;
  return lo + (len < skip ? len : skip);
}

}  // namespace tokenmark
