// The argument fields every scheme shares, shared by the CPU and CUDA launchers: RowArgs for the
// operations on a batch of logits rows (bias, samplers), DocArgs for scoring ragged documents.
// Each scheme's argument bundle derives from one of them and adds its own parameters. Plain
// data: the bindings fill them (one fill helper each) after validating every pointer, size and
// range.
#pragma once

#include <cstdint>

#include "tokenmark/prf.h"  // TM_HD
#include "tokenmark/types.h"

namespace tokenmark {

// Per-row parameters use a stride: 0 broadcasts one value to every row, 1 (4 for keys) reads one
// value per row, so one launch serves a batch of requests with different settings.
// `LogitsT` is `void` where the operation writes the logits in place, `const void` where it
// only reads them.
template <typename LogitsT>
struct RowArgs {
  LogitsT* logits;  // [batch, vocab] in `dtype`, rows `logits_row_stride` elements apart
  int64_t batch;
  int64_t vocab;
  int64_t logits_row_stride;
  LogitsDtype dtype;
  const void* input_ids;  // [batch, ids_len], int64 if ids_is_int64 else int32
  bool ids_is_int64;
  int64_t ids_len;
  int64_t ids_row_stride;  // elements
  const uint32_t* keys;    // [batch or 1, 4]
  int64_t key_stride;      // 4 or 0
  const uint8_t* enabled;  // [batch] or nullptr (all rows enabled)
  int32_t width;           // context width h
  int32_t seeding;         // Seeding (prf.h)
};

// Ragged documents tokens[offsets[d]:offsets[d+1]]; position i of document d is scored when
// i >= offsets[d] + max(width, prefix[d]), under the context of the `width` tokens before it.
struct DocArgs {
  const int32_t* tokens;  // [n_tokens], all >= 0
  int64_t n_tokens;
  const int64_t* offsets;  // [n_docs + 1], offsets[0] == 0, non-decreasing, last == n_tokens
  int64_t n_docs;
  const int64_t* prefix;  // [n_docs] tokens of each document that are context only, or nullptr
  uint32_t key[4];
  int32_t width;
  int32_t seeding;
  bool dedup;         // count each (context hash, token) pair once per document
  int64_t* n_scored;  // [n_docs] out
  uint8_t* counted;   // [n_tokens] out or nullptr: 1 where the token entered the score
  uint32_t* words;    // [n_tokens] out or nullptr: a counted token's PRF word, 0 elsewhere (host
                      // Gumbel and SynthID scorers only: the windowed detectors' per-token terms)
};

// First scored position of document d. The skip is clamped to the document's length before it
// is added, so any prefix (up to 2^63 - 1) is safe; a negative one counts as 0.
TM_HD int64_t scored_begin(const DocArgs& a, int64_t d) {
  const int64_t lo = a.offsets[d], len = a.offsets[d + 1] - lo;
  int64_t skip = a.prefix ? a.prefix[d] : 0;
  if (skip < a.width) skip = a.width;
  return lo + (len < skip ? len : skip);
}

}  // namespace tokenmark
