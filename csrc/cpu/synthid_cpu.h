// CPU launchers of the SynthID-Text operations (OpenMP threads over rows / documents).
#pragma once

#include "tokenmark/synthid_params.h"

namespace tokenmark::cpu {

void sample_synthid(const SynthIdSampleArgs& args);
// The factors of one tournament phase from its histogram hist[2^bits] (1 <= bits <= 10), as
// sample_synthid computes them (AVX2 where `simd`, else scalar; the same values).
void synthid_phase_factors(const uint64_t* hist, int bits, double* f, bool simd);
void score_synthid(const SynthIdScoreArgs& args);

}  // namespace tokenmark::cpu
