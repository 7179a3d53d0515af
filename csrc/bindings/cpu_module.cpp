// The `_C` extension: numpy buffers in, validated, pointers out to the CPU kernels.
#if defined(_OPENMP)
#include <omp.h>
#endif
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>

#include "../cpu/cpu_features.h"
#include "../cpu/kgw_cpu.h"
#include "checks.h"
#include "ginsew_binding.h"
#include "gumbel_binding.h"
#include "synthid_binding.h"

namespace py = pybind11;
using namespace tokenmark;
using namespace tokenmark::bind;

namespace {

void apply_kgw_bias(py::array logits, const std::string& logits_dtype, py::array input_ids,
                    py::array keys, py::array thresholds, py::array deltas,
                    std::optional<py::array> enabled, int width, int seeding) {
  KgwBiasArgs a{};
  require_width_seeding(width, seeding);
  if (!logits.writeable()) fail_value("logits: must be writeable (the bias is applied in place)");
  const LogitsView lv = logits_view(logits, logits_dtype);
  a.logits = logits.mutable_data();
  a.dtype = lv.dtype;
  a.batch = lv.batch;
  a.vocab = lv.vocab;
  a.logits_row_stride = lv.row_stride;
  if (a.logits_row_stride < a.vocab) fail_value("logits: rows overlap");
  // Only the last `width` ids of each row enter its context hash: those must be valid ids.
  const IdsView iv = ids_view(input_ids, a.batch, width);
  a.input_ids = iv.data;
  a.ids_is_int64 = iv.is_int64;
  a.ids_len = iv.len;
  a.ids_row_stride = iv.row_stride;
  a.width = width;
  a.seeding = seeding;
  require_dtype<uint32_t>(keys, "keys", "uint32");
  a.key_stride = row_param_stride(keys, "keys", a.batch, 4);
  a.keys = static_cast<const uint32_t*>(keys.data());
  require_dtype<uint32_t>(thresholds, "thresholds", "uint32");
  a.threshold_stride = row_param_stride(thresholds, "thresholds", a.batch);
  a.thresholds = static_cast<const uint32_t*>(thresholds.data());
  require_dtype<float>(deltas, "deltas", "float32");
  a.delta_stride = row_param_stride(deltas, "deltas", a.batch);
  a.deltas = static_cast<const float*>(deltas.data());
  for (int64_t i = 0; i < deltas.shape(0); ++i) {
    if (!std::isfinite(a.deltas[i])) fail_value("deltas: must be finite");
  }
  for (int64_t i = 0; i < thresholds.shape(0); ++i) {
    if (a.thresholds[i] == 0) fail_value("thresholds: must be > 0 (gamma too small)");
  }
  if (enabled) {
    require_dtype<uint8_t>(*enabled, "enabled", "uint8");
    require_ndim(*enabled, "enabled", 1);
    require_c_contiguous(*enabled, "enabled");
    if (enabled->shape(0) != a.batch) fail_value("enabled: expected one flag per row");
    a.enabled = static_cast<const uint8_t*>(enabled->data());
  }
  py::gil_scoped_release release;
  cpu::apply_kgw_bias_(a);
}

py::tuple score_kgw(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                    py::array key, uint64_t threshold, int width, int seeding, bool dedup,
                    bool want_flags) {
  KgwScoreArgs a{};
  set_docs(a, tokens, offsets, prefix);
  key_words(key, a.key);
  require_width_seeding(width, seeding);
  if (threshold == 0 || threshold > UINT32_MAX) fail_value("threshold: must be in [1, 2^32)");
  a.threshold = static_cast<uint32_t>(threshold);
  a.width = width;
  a.seeding = seeding;
  a.dedup = dedup;
  py::array_t<int64_t> n_scored(a.n_docs), n_green(a.n_docs);
  a.n_scored = n_scored.mutable_data();
  a.n_green = n_green.mutable_data();
  py::object green = py::none(), counted = py::none();
  if (want_flags) {
    py::array_t<int8_t> g(a.n_tokens);
    py::array_t<uint8_t> c(a.n_tokens);
    a.green = g.mutable_data();
    a.counted = c.mutable_data();
    green = g;
    counted = c;
  }
  {
    py::gil_scoped_release release;
    cpu::score_kgw(a);
  }
  return py::make_tuple(n_scored, n_green, green, counted);
}

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
  m.def("apply_kgw_bias_", &apply_kgw_bias, py::arg("logits"), py::arg("logits_dtype"),
        py::arg("input_ids"), py::arg("keys"), py::arg("thresholds"), py::arg("deltas"),
        py::arg("enabled"), py::arg("width"), py::arg("seeding"));
  m.def("score_kgw", &score_kgw, py::arg("tokens"), py::arg("offsets"), py::arg("prefix"),
        py::arg("key"), py::arg("threshold"), py::arg("width"), py::arg("seeding"),
        py::arg("dedup"), py::arg("want_flags"));
  register_gumbel(m);
  register_synthid(m);
  register_ginsew(m);
  m.def("info", &info);
  m.def("set_simd_enabled", &cpu::set_simd_enabled, py::arg("on"),
        "Switch the AVX2 paths off (for tests of the scalar paths) or back on.");
}
