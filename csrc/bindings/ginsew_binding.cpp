// `_C` bindings of the GINSEW operations: numpy buffers in, validated, pointers out.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>

#include "../cpu/ginsew_cpu.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

void require_width_position(int width, int position) {
  if (width < 1 || width > 1024)
    fail_value("context_width: must be in [1, 1024], got " + std::to_string(width));
  if (position < -1) fail_value("position: must be -1 (the context) or >= 0");
}

// Fills the ids and per-row parameters shared by apply_ginsew_ and ginsew_times.
void set_rows(GinsewArgs& a, py::array input_ids, py::array keys, int width, int position) {
  require_width_position(width, position);
  // The ids that enter a time must be valid: the last `width`, or those from `position` on.
  const int64_t len = input_ids.ndim() == 2 ? input_ids.shape(1) : 0;
  const IdsView iv = ids_view(input_ids, a.batch, position < 0 ? width : len - position);
  a.input_ids = iv.data;
  a.ids_is_int64 = iv.is_int64;
  a.ids_len = iv.len;
  a.ids_row_stride = iv.row_stride;
  a.width = width;
  a.position = position;
  a.keys = row_param<uint32_t>(keys, "key", "uint32", a.batch, &a.key_stride, 4);
}

void apply_ginsew(py::array logits, const std::string& logits_dtype, py::array input_ids,
                  py::array keys, py::array thresholds, py::array epsilons, py::array frequencies,
                  std::optional<py::array> enabled, int width, int position) {
  GinsewArgs a{};
  if (!logits.writeable()) fail_value("logits: must be writeable (written in place)");
  const LogitsView lv = logits_view(logits, logits_dtype);
  a.logits = logits.mutable_data();
  a.dtype = lv.dtype;
  a.batch = lv.batch;
  a.vocab = lv.vocab;
  a.logits_row_stride = lv.row_stride;
  if (a.batch > 1 && a.logits_row_stride < a.vocab) fail_value("logits: rows overlap");
  set_rows(a, input_ids, keys, width, position);
  a.thresholds =
      row_param<uint32_t>(thresholds, "thresholds", "uint32", a.batch, &a.threshold_stride);
  for (int64_t i = 0; i < thresholds.shape(0); ++i) {
    if (a.thresholds[i] == 0) fail_value("thresholds: must be > 0 (fraction too small)");
  }
  a.epsilons = row_param<double>(epsilons, "epsilon", "float64", a.batch, &a.epsilon_stride);
  for (int64_t i = 0; i < epsilons.shape(0); ++i) {
    if (!std::isfinite(a.epsilons[i]) || a.epsilons[i] < 0.0)
      fail_value("epsilon: must be finite and >= 0");
  }
  a.frequencies =
      row_param<double>(frequencies, "frequency", "float64", a.batch, &a.frequency_stride);
  for (int64_t i = 0; i < frequencies.shape(0); ++i) {
    if (!std::isfinite(a.frequencies[i])) fail_value("frequency: must be finite");
  }
  require_flags(enabled, "enabled", a.batch);
  if (enabled) a.enabled = static_cast<const uint8_t*>(enabled->data());
  py::gil_scoped_release release;
  cpu::apply_ginsew_(a);
}

py::array_t<bool> ginsew_group_flags(py::array key, uint64_t threshold, int64_t vocab) {
  uint32_t k[4];
  key_words(key, k);
  if (threshold == 0 || threshold > UINT32_MAX) fail_value("threshold: must be in [1, 2^32)");
  if (vocab < 0 || vocab > INT32_MAX) fail_value("vocab: must be in [0, 2^31)");
  py::array_t<bool> out(vocab);
  static_assert(sizeof(bool) == 1, "bool flags are written as bytes");
  cpu::ginsew_group_flags(k, static_cast<uint32_t>(threshold), vocab,
                          reinterpret_cast<uint8_t*>(out.mutable_data()));
  return out;
}

py::array_t<double> ginsew_times(py::array input_ids, py::array keys, int width, int position) {
  GinsewArgs a{};
  if (input_ids.ndim() != 2) fail_value("input_ids: expected [batch, length]");
  a.batch = input_ids.shape(0);
  set_rows(a, input_ids, keys, width, position);
  // ginsew_row_params reads every per-row parameter; the times use none of these three, so
  // they point at one broadcast placeholder (stride 0) rather than at nothing.
  static const uint32_t kThreshold = 1;
  static const double kZero = 0.0;
  a.thresholds = &kThreshold;
  a.epsilons = &kZero;
  a.frequencies = &kZero;
  py::array_t<double> out(a.batch);
  cpu::ginsew_times(a, out.mutable_data());
  return out;
}

}  // namespace

void register_ginsew(py::module_& m) {
  m.def("apply_ginsew_", &apply_ginsew, py::arg("logits"), py::arg("logits_dtype"),
        py::arg("input_ids"), py::arg("keys"), py::arg("thresholds"), py::arg("epsilons"),
        py::arg("frequencies"), py::arg("enabled"), py::arg("width"), py::arg("position"));
  m.def("ginsew_group_flags", &ginsew_group_flags, py::arg("key"), py::arg("threshold"),
        py::arg("vocab"));
  m.def("ginsew_times", &ginsew_times, py::arg("input_ids"), py::arg("keys"), py::arg("width"),
        py::arg("position"));
}

}  // namespace tokenmark::bind::host
