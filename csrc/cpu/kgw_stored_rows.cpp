// KGW green counts against stored green-list rows (see kgw_stored_rows.h).
#include "kgw_stored_rows.h"

#include <algorithm>
#include <atomic>

namespace tokenmark::cpu {

bool score_kgw_stored_rows(const KgwStoredRowsArgs& a) {
  std::atomic<bool> missing{false};
#pragma omp parallel for schedule(dynamic, 16) if (a.n_docs > 64)
  for (int64_t d = 0; d < a.n_docs; ++d) {
    const int64_t end = a.offsets[d + 1];
    int64_t green = 0;
    bool ok = true;
    for (int64_t p = a.first[d]; p < end; ++p) {
      const int64_t prev = a.tokens[p - 1];
      const int64_t row = prev < a.table_len ? a.row_of_prev[prev] : -1;
      if (row < 0 || row >= a.n_rows) {
        ok = false;
        break;
      }
      const int64_t t = a.tokens[p];
      if (t < a.vocab) green += a.store[row * a.row_bytes + (t >> 3)] >> (t & 7) & 1;
    }
    if (!ok) missing.store(true, std::memory_order_relaxed);
    a.n_scored[d] = std::max<int64_t>(end - a.first[d], 0);
    a.n_green[d] = green;
  }
  return !missing.load();
}

}  // namespace tokenmark::cpu
