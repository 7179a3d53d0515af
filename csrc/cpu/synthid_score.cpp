// score_synthid on the CPU: per document, the counted tokens and per layer how many of their
// g-values are 1 (each (context hash, token) pair once with dedup). Threads take whole documents;
// context hashes and PRF words come eight positions at a time (AVX2 where the CPU has it).
#include <algorithm>
#include <cstdint>

#include "cpu_features.h"
#include "doc_scan.h"
#include "layer_counter.h"
#include "synthid_cpu.h"
#include "tokenmark/synthid.h"

namespace tokenmark::cpu {

void score_synthid(const SynthIdScoreArgs& a) {
  const Key128 key{{a.key[0], a.key[1], a.key[2], a.key[3]}};
  const bool simd = simd_enabled();
  score_docs(a, [&](int64_t d, PairSet& seen) {
    int64_t* ones = a.ones + d * a.layers;
    std::fill(ones, ones + a.layers, 0);
    LayerCounter counter(ones, a.layers);
    a.n_scored[d] = scan_doc(a, key, d, 0u, kDomainSynthIdG, simd, seen,
                             [&](uint32_t word) { counter.add(word); });
    counter.flush();
  });
}

}  // namespace tokenmark::cpu
