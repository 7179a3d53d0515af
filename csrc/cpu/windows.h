// The best window of each document of a ragged batch of per-token terms (stats.best_windows'
// C++ path): the `window` consecutive terms with the largest sum, the first such on ties.
// Integer terms (green flags, g-value counts) sum exactly with a running sum. Float terms
// (Gumbel's -log(1 - u)) compare window sums formed as differences of the document's running
// totals, and the chosen window's sum is then added from its own terms, in order.
#pragma once

#include <cstdint>

namespace tokenmark::cpu {

template <typename T>
struct WindowArgs {
  const T* values;         // [n] per-token terms
  const int64_t* offsets;  // [n_docs + 1], validated
  int64_t n_docs;
  int64_t window;      // >= 1
  int64_t* start;      // [n_docs] out: the best window's first index within its document
  T* best;             // [n_docs] out: its sum (0 for an empty document)
  int64_t* w;          // [n_docs] out: its length, min(window, length)
  int64_t* n_windows;  // [n_docs] out: length - w + 1, or 0 for an empty document
};

void best_windows(const WindowArgs<int64_t>& a);
void best_windows(const WindowArgs<double>& a);

}  // namespace tokenmark::cpu
