// CPU launchers of the K-key scorers (score_keys.cpp): n_scored and the counted flags do not
// depend on the key and are written once; the per-key outputs are [n_keys, n_docs(, layers)].
#pragma once

#include "tokenmark/keys_params.h"

namespace tokenmark::cpu {

void score_kgw_keys(const KgwKeysScoreArgs& args);
void score_gumbel_keys(const GumbelKeysScoreArgs& args);
void score_synthid_keys(const SynthIdKeysScoreArgs& args);

}  // namespace tokenmark::cpu
