// SynthID-Text's g-values as transformers and synthid-text compute them (a dialect): per
// position hash h (context and token already accumulated) and layer key k,
// g = table[((h + k) * 6364136223846793005 + 1) floor-mod table_size], int64 wrapping.
#pragma once

#include <cstdint>

namespace tokenmark::cpu {

void synthid_text_g_values(const uint64_t* hashes /* [n] */, int64_t n,
                           const uint64_t* keys /* [depth] */, int depth,
                           const uint8_t* table /* [table_size] */, int64_t table_size,
                           uint8_t* g /* [n, depth] */);

}  // namespace tokenmark::cpu
