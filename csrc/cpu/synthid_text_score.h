// SynthID-Text detection counts on the CPU (a dialect: transformers / synthid-text), fused: the
// context hash of each n-gram, their context repetition mask, the EOS mask, the prompt, and the
// g-values summed per document and layer, without materialising the g-values.
#pragma once

#include <cstdint>

namespace tokenmark::cpu {

struct SynthidTextScoreArgs {
  const int32_t* tokens;   // [n_tokens]
  const int64_t* offsets;  // [n_docs + 1]
  const int64_t* prefix;   // [n_docs] or null: positions before it are not scored
  int64_t n_docs;
  int ngram_len;
  const uint64_t* keys;  // [depth]
  int depth;
  const uint8_t* table;  // [table_size]
  int64_t table_size;
  const uint32_t* layer_bits;  // or null: synthid_text_layer_bits of (keys, table), if they fit
  int64_t history;             // context_history_size
  bool mask_repeated;          // their context repetition mask
  int64_t eos;                 // EOS token id, or -1: no EOS mask
  int64_t* n_scored;           // [n_docs]
  int64_t* ones;               // [n_docs, depth]
  uint8_t* counted;            // [n_tokens] or null
};

void score_synthid_text(const SynthidTextScoreArgs& a);

}  // namespace tokenmark::cpu
