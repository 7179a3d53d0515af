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
  a.dtype = parse_logits_dtype(logits, logits_dtype);
  require_ndim(logits, "logits", 2);
  if (!logits.writeable()) fail_value("logits: must be writeable (the bias is applied in place)");
  const int64_t esize = logits.itemsize();
  // Empty arrays carry arbitrary strides; there is nothing to address in them.
  const bool empty = logits.size() == 0;
  if (!empty && logits.shape(1) > 1 && logits.strides(1) != esize)
    fail_value("logits: rows must be contiguous");
  if (!empty && (logits.strides(0) % esize != 0 || logits.strides(0) < 0))
    fail_value("logits: unsupported row stride");
  a.logits = logits.mutable_data();
  a.batch = logits.shape(0);
  a.vocab = logits.shape(1);
  a.logits_row_stride = logits.shape(0) > 1 ? logits.strides(0) / esize : a.vocab;
  if (a.logits_row_stride < a.vocab) fail_value("logits: rows overlap");

  require_ndim(input_ids, "input_ids", 2);
  if (input_ids.shape(0) != a.batch) {
    fail_value("input_ids: expected " + std::to_string(a.batch) +
               " rows (one per logits row), got " + std::to_string(input_ids.shape(0)));
  }
  if (has_dtype<int64_t>(input_ids)) {
    a.ids_is_int64 = true;
  } else if (!has_dtype<int32_t>(input_ids)) {
    fail_type("input_ids: expected dtype int32 or int64, got " +
              std::string(py::str(input_ids.dtype())));
  }
  const int64_t isize = input_ids.itemsize();
  if (input_ids.size() > 0 && input_ids.shape(1) > 1 && input_ids.strides(1) != isize) {
    fail_value("input_ids: rows must be contiguous");
  }
  if (input_ids.size() > 0 && (input_ids.strides(0) % isize != 0 || input_ids.strides(0) < 0)) {
    fail_value("input_ids: unsupported row stride");
  }
  a.input_ids = input_ids.data();
  a.ids_len = input_ids.shape(1);
  a.ids_row_stride = input_ids.shape(0) > 1 ? input_ids.strides(0) / isize : a.ids_len;

  require_width_seeding(width, seeding);
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
  // Every token id that enters a context hash must be a valid id.
  if (a.ids_len >= width) {
    for (int64_t b = 0; b < a.batch; ++b) {
      for (int64_t j = a.ids_len - width; j < a.ids_len; ++j) {
        const int64_t t = a.ids_is_int64
                              ? static_cast<const int64_t*>(a.input_ids)[b * a.ids_row_stride + j]
                              : static_cast<const int32_t*>(a.input_ids)[b * a.ids_row_stride + j];
        if (t < 0 || t > INT32_MAX) fail_value("input_ids: token ids must be in [0, 2^31)");
      }
    }
  }
  py::gil_scoped_release release;
  cpu::apply_kgw_bias_(a);
}

py::tuple score_kgw(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                    py::array key, uint64_t threshold, int width, int seeding, bool dedup,
                    bool want_flags) {
  KgwScoreArgs a{};
  require_dtype<int32_t>(tokens, "tokens", "int32");
  require_ndim(tokens, "tokens", 1);
  require_c_contiguous(tokens, "tokens");
  require_dtype<int64_t>(offsets, "offsets", "int64");
  require_ndim(offsets, "offsets", 1);
  require_c_contiguous(offsets, "offsets");
  require_dtype<uint32_t>(key, "key", "uint32");
  if (key.ndim() != 1 || key.shape(0) != 4) fail_value("key: expected 4 words");
  require_c_contiguous(key, "key");
  require_width_seeding(width, seeding);
  if (threshold == 0 || threshold > UINT32_MAX) fail_value("threshold: must be in [1, 2^32)");
  a.tokens = static_cast<const int32_t*>(tokens.data());
  a.n_tokens = tokens.shape(0);
  a.offsets = static_cast<const int64_t*>(offsets.data());
  if (offsets.shape(0) < 1) fail_value("offsets: needs at least one entry (0)");
  a.n_docs = offsets.shape(0) - 1;
  if (a.offsets[0] != 0) fail_value("offsets: must start at 0");
  for (int64_t d = 0; d < a.n_docs; ++d) {
    if (a.offsets[d + 1] < a.offsets[d]) fail_value("offsets: must be non-decreasing");
  }
  if (a.offsets[a.n_docs] != a.n_tokens)
    fail_value("offsets: last entry must equal the number of tokens");
  if (prefix) {
    require_dtype<int64_t>(*prefix, "prefix_lengths", "int64");
    require_ndim(*prefix, "prefix_lengths", 1);
    require_c_contiguous(*prefix, "prefix_lengths");
    if (prefix->shape(0) != a.n_docs) fail_value("prefix_lengths: expected one entry per document");
    a.prefix = static_cast<const int64_t*>(prefix->data());
    for (int64_t d = 0; d < a.n_docs; ++d) {
      if (a.prefix[d] < 0) fail_value("prefix_lengths: must be >= 0");
    }
  }
  {
    int32_t lo = 0;
    for (int64_t i = 0; i < a.n_tokens; ++i) lo = std::min(lo, a.tokens[i]);
    if (lo < 0) fail_value("tokens: token ids must be >= 0");
  }
  const uint32_t* kw = static_cast<const uint32_t*>(key.data());
  for (int i = 0; i < 4; ++i) a.key[i] = kw[i];
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
  m.def("info", &info);
  m.def("set_simd_enabled", &cpu::set_simd_enabled, py::arg("on"),
        "Switch the AVX2 paths off (for tests of the scalar paths) or back on.");
}
