// The `_C` extension: numpy buffers in, validated, pointers out to the CPU kernels.
#if defined(_OPENMP)
#include <omp.h>
#endif
#include <pybind11/pybind11.h>

#include <string>

#include "../cpu/cpu_features.h"
#include "register.h"

namespace py = pybind11;
using namespace tokenmark;

namespace {

py::dict info() {
  py::dict d;
  d["avx2"] = cpu::avx2_available();
  d["simd_enabled"] = cpu::simd_enabled();
#if defined(_OPENMP)
  d["openmp_max_threads"] = omp_get_max_threads();
#else
  d["openmp_max_threads"] = 1;
#endif
#if defined(__VERSION__)
  d["compiler"] = std::string(__VERSION__);
#endif
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "tokenmark CPU kernels (C++, OpenMP, AVX2 chosen at run time).";
  bind::host::register_kgw(m);
  bind::host::register_gumbel(m);
  bind::host::register_synthid(m);
  bind::host::register_ginsew(m);
  bind::host::register_dialects(m);
  bind::host::register_synthid_text(m);
  bind::host::register_keys(m);
  bind::host::register_inputs(m);
  bind::host::register_steps(m);
  bind::host::register_stats(m);
  m.def("info", &info);
  m.def("set_simd_enabled", &cpu::set_simd_enabled, py::arg("on"),
        "Switch the AVX2 paths off (for tests of the scalar paths) or back on.");
}
