// score_gumbel on the CPU: per document, the sum of -log(1 - u) over its scored tokens, each
// (context hash, token) pair counted once with dedup. Documents are independent, so threads take
// whole documents; context hashes and PRF words come eight positions at a time (AVX2 where the
// CPU has it), and the sum runs in token order (float64), as in the numpy reference.
#include <cstdint>

#include "cpu_features.h"
#include "doc_scan.h"
#include "gumbel_cpu.h"
#include "tokenmark/gumbel.h"

namespace tokenmark::cpu {

void score_gumbel(const GumbelScoreArgs& a) {
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  const bool simd = simd_enabled();
  score_docs(a, [&](int64_t d, PairSet& seen) {
    double total = 0.0;
    const uint32_t salt = a.salts[d * a.salt_stride];
    a.n_scored[d] = scan_doc(a, key, d, salt, kDomainGumbel, simd, seen,
                             [&](uint32_t word) { total += gumbel_score_term(word); });
    a.score[d] = total;
  });
}

}  // namespace tokenmark::cpu
