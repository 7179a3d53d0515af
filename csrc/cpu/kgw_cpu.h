// CPU launchers of the KGW operations (OpenMP threads; AVX2 where the CPU has it).
#pragma once

#include "tokenmark/kgw_params.h"

namespace tokenmark::cpu {

void apply_kgw_bias_(const KgwBiasArgs& args);
void score_kgw(const KgwScoreArgs& args);

}  // namespace tokenmark::cpu
