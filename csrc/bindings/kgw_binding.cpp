// `_C` bindings of the KGW operations: numpy buffers in, validated, pointers out.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "../cpu/kgw_cpu.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

void apply_kgw_bias(py::array logits, const std::string& logits_dtype, py::array input_ids,
                    py::array keys, py::array thresholds, py::array deltas,
                    std::optional<py::array> enabled, int width, int seeding) {
  KgwBiasArgs a{};
  // Only the last `width` ids of each row enter its context hash.
  fill_rows(a, logits, logits_dtype, input_ids, width, keys, enabled, width, seeding);
  a.thresholds =
      row_param<uint32_t>(thresholds, "thresholds", "uint32", a.batch, &a.threshold_stride);
  a.deltas = row_param<float>(deltas, "deltas", "float32", a.batch, &a.delta_stride);
  for (int64_t i = 0; i < deltas.shape(0); ++i) {
    if (!std::isfinite(a.deltas[i])) fail_value("deltas: must be finite");
  }
  for (int64_t i = 0; i < thresholds.shape(0); ++i) {
    if (a.thresholds[i] == 0) fail_value("thresholds: must be > 0 (gamma too small)");
  }
  py::gil_scoped_release release;
  cpu::apply_kgw_bias_(a);
}

py::tuple score_kgw(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                    py::array key, uint64_t threshold, int width, int seeding, bool dedup,
                    bool want_flags) {
  KgwScoreArgs a{};
  DocOutputs out = fill_docs(a, tokens, offsets, prefix, key, width, seeding, dedup,
                             /*want_counted=*/want_flags);
  if (threshold == 0 || threshold > UINT32_MAX) fail_value("threshold: must be in [1, 2^32)");
  a.threshold = static_cast<uint32_t>(threshold);
  py::array_t<int64_t> n_green(a.n_docs);
  a.n_green = n_green.mutable_data();
  py::object green = py::none();
  if (want_flags) {
    py::array_t<int8_t> g(a.n_tokens);
    a.green = g.mutable_data();
    green = g;
  }
  return score_released(cpu::score_kgw, a, out, n_green, green);
}

}  // namespace

void register_kgw(py::module_& m) {
  m.def("apply_kgw_bias_", &apply_kgw_bias, py::arg("logits"), py::arg("logits_dtype"),
        py::arg("input_ids"), py::arg("keys"), py::arg("thresholds"), py::arg("deltas"),
        py::arg("enabled"), py::arg("width"), py::arg("seeding"));
  m.def("score_kgw", &score_kgw, py::arg("tokens"), py::arg("offsets"), py::arg("prefix"),
        py::arg("key"), py::arg("threshold"), py::arg("width"), py::arg("seeding"),
        py::arg("dedup"), py::arg("want_flags"));
}

}  // namespace tokenmark::bind::host
