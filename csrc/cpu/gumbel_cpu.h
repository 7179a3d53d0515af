// CPU launchers of the Gumbel operations (OpenMP threads; AVX2 PRF blocks where the CPU has it).
#pragma once

#include "tokenmark/gumbel_params.h"

namespace tokenmark::cpu {

void sample_gumbel(const GumbelSampleArgs& args);
void score_gumbel(const GumbelScoreArgs& args);

}  // namespace tokenmark::cpu
