// `_C.best_windows`: the windowed detectors' search (csrc/cpu/windows.h), numpy buffers in.
#include <pybind11/numpy.h>

#include <cstdint>
#include <string>

#include "../cpu/windows.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

template <typename T>
py::tuple run(const py::array& values, const int64_t* offsets, int64_t n_docs, int64_t window) {
  py::array_t<int64_t> start(n_docs), w(n_docs), n_windows(n_docs);
  py::array_t<T> best(n_docs);
  cpu::WindowArgs<T> a{static_cast<const T*>(values.data()),
                       offsets,
                       n_docs,
                       window,
                       start.mutable_data(),
                       best.mutable_data(),
                       w.mutable_data(),
                       n_windows.mutable_data()};
  {
    py::gil_scoped_release release;
    cpu::best_windows(a);
  }
  return py::make_tuple(start, best, w, n_windows);
}

py::tuple best_windows(py::array values, py::array offsets, int64_t window) {
  const bool exact = has_dtype<int64_t>(values);
  if (!exact && !has_dtype<double>(values)) {
    fail_type("values: expected dtype int64 or float64, got " +
              std::string(py::str(values.dtype())));
  }
  require_ndim(values, "values", 1);
  require_c_contiguous(values, "values");
  require_vector<int64_t>(offsets, "offsets", "int64");
  if (window < 1) fail_value("window: must be >= 1, got " + std::to_string(window));
  const int64_t n = values.shape(0), m = offsets.shape(0);
  const int64_t* off = static_cast<const int64_t*>(offsets.data());
  if (m < 1 || off[0] != 0 || off[m - 1] != n) {
    fail_value("offsets: expected [n_docs + 1] from 0 to the number of values");
  }
  for (int64_t d = 0; d + 1 < m; ++d) {
    if (off[d + 1] < off[d]) fail_value("offsets: must be non-decreasing");
  }
  return exact ? run<int64_t>(values, off, m - 1, window) : run<double>(values, off, m - 1, window);
}

}  // namespace

void register_stats(py::module_& m) {
  m.def("best_windows", &best_windows, py::arg("values"), py::arg("offsets"), py::arg("window"),
        "(start, best, w, n_windows) of each document's best window of `window` terms.");
}

}  // namespace tokenmark::bind::host
