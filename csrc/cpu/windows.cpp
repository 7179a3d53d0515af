// See windows.h. Documents are independent: threads take whole documents.
#include "windows.h"

#include <algorithm>
#include <type_traits>

namespace tokenmark::cpu {
namespace {

template <typename T>
void one_doc(const WindowArgs<T>& a, int64_t d) {
  const T* v = a.values + a.offsets[d];
  const int64_t len = a.offsets[d + 1] - a.offsets[d];
  const int64_t w = std::min(len, a.window);
  a.w[d] = w;
  a.n_windows[d] = len > 0 ? len - w + 1 : 0;
  a.start[d] = 0;
  a.best[d] = 0;
  if (len == 0) return;
  int64_t at = 0;
  if constexpr (std::is_integral_v<T>) {
    T sum = 0;
    for (int64_t i = 0; i < w; ++i) sum += v[i];
    T top = sum;
    for (int64_t i = 1; i + w <= len; ++i) {
      sum += v[i + w - 1] - v[i - 1];
      if (sum > top) top = sum, at = i;
    }
    a.best[d] = top;
  } else {
    double hi = 0.0, lo = 0.0;  // running totals of the terms before i + w and before i
    for (int64_t i = 0; i < w; ++i) hi += v[i];
    double top = hi;
    for (int64_t i = 1; i + w <= len; ++i) {
      hi += v[i + w - 1];
      lo += v[i - 1];
      if (hi - lo > top) top = hi - lo, at = i;
    }
    double sum = 0.0;
    for (int64_t i = at; i < at + w; ++i) sum += v[i];
    a.best[d] = sum;
  }
  a.start[d] = at;
}

template <typename T>
void all_docs(const WindowArgs<T>& a) {
#pragma omp parallel for schedule(dynamic, 64) if (a.offsets[a.n_docs] > (1 << 16))
  for (int64_t d = 0; d < a.n_docs; ++d) one_doc(a, d);
}

}  // namespace

void best_windows(const WindowArgs<int64_t>& a) { all_docs(a); }
void best_windows(const WindowArgs<double>& a) { all_docs(a); }

}  // namespace tokenmark::cpu
