// CPU launchers of the SynthID-Text operations (OpenMP threads over rows / documents).
#pragma once

#include "tokenmark/synthid_params.h"

namespace tokenmark::cpu {

void sample_synthid(const SynthIdSampleArgs& args);
void score_synthid(const SynthIdScoreArgs& args);

}  // namespace tokenmark::cpu
