// CPU launcher of the GINSEW embedding op (OpenMP over rows).
#pragma once

#include <cstdint>

#include "tokenmark/ginsew.h"

namespace tokenmark::cpu {

void apply_ginsew_(const GinsewArgs& args);

// The group flags of token ids [0, vocab) (1: G0) and each row's time (NaN: none), for tests
// and for the detector; the same lines as the kernel's.
void ginsew_group_flags(const uint32_t key[4], uint32_t threshold, int64_t vocab, uint8_t* out);
void ginsew_times(const GinsewArgs& args, double* out);  // out: [batch]

}  // namespace tokenmark::cpu
