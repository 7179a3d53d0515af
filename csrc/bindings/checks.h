// Argument checks shared by the bindings: each failure raises a Python ValueError or TypeError
// that names the argument, never the values of secret ones.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "tokenmark/kgw_params.h"

namespace tokenmark::bind {
namespace py = pybind11;

[[noreturn]] inline void fail_type(const std::string& msg) { throw py::type_error(msg); }
[[noreturn]] inline void fail_value(const std::string& msg) { throw py::value_error(msg); }

template <typename T>
bool has_dtype(const py::array& a) {
  return a.dtype().is(py::dtype::of<T>());
}

template <typename T>
void require_dtype(const py::array& a, const char* name, const char* expected) {
  if (!has_dtype<T>(a)) {
    fail_type(std::string(name) + ": expected dtype " + expected + ", got " +
              std::string(py::str(a.dtype())));
  }
}

inline void require_ndim(const py::array& a, const char* name, int ndim) {
  if (a.ndim() != ndim) {
    fail_value(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions, got " +
               std::to_string(a.ndim()));
  }
}

inline void require_c_contiguous(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style)) fail_value(std::string(name) + ": must be C-contiguous");
}

// A per-row parameter: shape [rows] (one per row) or [1] (broadcast). Returns the stride.
inline int64_t row_param_stride(const py::array& a, const char* name, int64_t rows,
                                int64_t width = 1) {
  require_c_contiguous(a, name);
  const int64_t n = a.ndim() >= 1 ? a.shape(0) : 0;
  const bool shape_ok = width == 1 ? a.ndim() == 1 : (a.ndim() == 2 && a.shape(1) == width);
  if (!shape_ok || (n != 1 && n != rows)) {
    fail_value(std::string(name) + ": expected shape [" + std::to_string(rows) +
               (width == 1 ? "" : ", " + std::to_string(width)) + "] or [1" +
               (width == 1 ? "" : ", " + std::to_string(width)) + "]");
  }
  return n == 1 && rows != 1 ? 0 : width;
}

inline void require_width_seeding(int width, int seeding) {
  if (width < 0 || width > 1024)
    fail_value("context_width: must be in [0, 1024], got " + std::to_string(width));
  if (seeding != 0 && seeding != 1)
    fail_value("seeding: unknown seeding code " + std::to_string(seeding));
}

// The dtype code of host logits, checked against the array's dtype.
inline LogitsDtype parse_logits_dtype(const py::array& logits, const std::string& dtype) {
  if (dtype == "float32") {
    require_dtype<float>(logits, "logits", "float32");
    return kFloat32;
  }
  if (dtype == "float16") {
    if (logits.dtype().kind() != 'f' || logits.itemsize() != 2)
      fail_type("logits: expected dtype float16");
    return kFloat16;
  }
  if (dtype == "bfloat16") {
    // numpy has no bfloat16: the Python layer passes the raw 16-bit patterns.
    if (logits.dtype().kind() == 'f' || logits.itemsize() != 2) {
      fail_type("logits: bfloat16 logits travel as int16/uint16 bit patterns");
    }
    return kBFloat16;
  }
  fail_value("logits_dtype: expected float32, float16 or bfloat16, got " + dtype);
}

}  // namespace tokenmark::bind
