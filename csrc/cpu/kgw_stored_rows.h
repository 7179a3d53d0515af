// KGW green counts against green lists already drawn and stored as bitset rows (the transformers
// and TGI dialects' warm path, lefthash: the list of a position is that of its previous token).
#pragma once

#include <cstdint>

namespace tokenmark::cpu {

struct KgwStoredRowsArgs {
  const int32_t* tokens;   // [n_tokens]
  const int64_t* offsets;  // [n_docs + 1]
  const int64_t* first;    // [n_docs]: the first scored position (absolute, > offsets[d])
  int64_t n_docs;
  const int64_t* row_of_prev;  // [table_len]: the store row of each previous token id, or < 0
  int64_t table_len;
  const uint8_t* store;  // [n_rows, row_bytes]: bit t of a row: token t is green
  int64_t n_rows, row_bytes;
  int64_t vocab;      // tokens at or past it are never green
  int64_t* n_scored;  // [n_docs]
  int64_t* n_green;   // [n_docs]
};

// Fills n_scored and n_green and returns true; returns false (outputs undefined) when some
// scored position's previous token has no stored row (or one out of the store).
bool score_kgw_stored_rows(const KgwStoredRowsArgs& a);

}  // namespace tokenmark::cpu
