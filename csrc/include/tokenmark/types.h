// Codes shared by every scheme and both backends. The Python layer passes and reads these
// numbers: the numbering is frozen.
#pragma once

#include <cstdint>

namespace tokenmark {

// Element type of a logits buffer (bfloat16 and float16 travel as 16-bit patterns).
enum LogitsDtype : int32_t { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// A sampler's row outcome when it returns no token id.
constexpr int64_t kNotWatermarked = -1;  // disabled, context too short, or repeated
constexpr int64_t kNoFiniteLogit = -2;   // every logit is -inf or NaN

}  // namespace tokenmark
