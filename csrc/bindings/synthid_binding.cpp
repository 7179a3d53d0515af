// `_C` bindings of the SynthID-Text operations: numpy buffers in, validated, pointers out.
#include "synthid_binding.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>

#include "../cpu/synthid_cpu.h"
#include "checks.h"
#include "tokenmark/synthid.h"

namespace tokenmark::bind {
namespace {

void require_layers(int layers) {
  if (layers < 1 || layers > kSynthIdMaxLayers)
    fail_value("layers: must be in [1, 32], got " + std::to_string(layers));
}

py::tuple sample_synthid(py::array logits, const std::string& logits_dtype, py::array input_ids,
                         py::array keys, py::array uniforms, std::optional<py::array> enabled,
                         int width, int seeding, int layers, int64_t top_k, int64_t history) {
  SynthIdSampleArgs a{};
  const LogitsView lv = logits_view(logits, logits_dtype);
  a.logits = lv.data;
  a.batch = lv.batch;
  a.vocab = lv.vocab;
  a.logits_row_stride = lv.row_stride;
  a.dtype = lv.dtype;
  require_width_seeding(width, seeding);
  require_layers(layers);
  if (top_k < 0) fail_value("top_k: must be >= 0 (0: the whole vocabulary)");
  if (history < 0) fail_value("context_history: must be >= 0");
  // The repeated-context search hashes the last `history + width` ids of each row.
  const int64_t reach = history > INT64_MAX - width ? INT64_MAX : history + width;
  const IdsView iv = ids_view(input_ids, a.batch, reach);
  a.input_ids = iv.data;
  a.ids_is_int64 = iv.is_int64;
  a.ids_len = iv.len;
  a.ids_row_stride = iv.row_stride;
  a.width = width;
  a.seeding = seeding;
  a.layers = layers;
  a.top_k = top_k;
  a.history = history;
  require_dtype<uint32_t>(keys, "keys", "uint32");
  a.key_stride = row_param_stride(keys, "keys", a.batch, 4);
  a.keys = static_cast<const uint32_t*>(keys.data());
  require_dtype<double>(uniforms, "uniforms", "float64");
  require_ndim(uniforms, "uniforms", 1);
  require_c_contiguous(uniforms, "uniforms");
  if (uniforms.shape(0) != a.batch) fail_value("uniforms: expected one per row");
  a.uniforms = static_cast<const double*>(uniforms.data());
  for (int64_t b = 0; b < a.batch; ++b) {
    if (!(a.uniforms[b] >= 0.0 && a.uniforms[b] < 1.0)) fail_value("uniforms: must be in [0, 1)");
  }
  if (enabled) {
    require_dtype<uint8_t>(*enabled, "enabled", "uint8");
    require_ndim(*enabled, "enabled", 1);
    require_c_contiguous(*enabled, "enabled");
    if (enabled->shape(0) != a.batch) fail_value("enabled: expected one flag per row");
    a.enabled = static_cast<const uint8_t*>(enabled->data());
  }
  py::array_t<int64_t> out(a.batch);
  py::array_t<uint8_t> marked(a.batch);
  a.out = out.mutable_data();
  a.marked = marked.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::sample_synthid(a);
  }
  return py::make_tuple(out, marked);
}

py::tuple score_synthid(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                        py::array key, int width, int seeding, int layers, bool dedup,
                        bool want_counted) {
  SynthIdScoreArgs a{};
  set_docs(a, tokens, offsets, prefix);
  key_words(key, a.key);
  require_width_seeding(width, seeding);
  require_layers(layers);
  a.width = width;
  a.seeding = seeding;
  a.layers = layers;
  a.dedup = dedup;
  py::array_t<int64_t> n_scored(a.n_docs);
  py::array_t<int64_t> ones({a.n_docs, static_cast<int64_t>(layers)});
  a.n_scored = n_scored.mutable_data();
  a.ones = ones.mutable_data();
  py::object counted = py::none();
  if (want_counted) {
    py::array_t<uint8_t> c(a.n_tokens);
    a.counted = c.mutable_data();
    counted = c;
  }
  {
    py::gil_scoped_release release;
    cpu::score_synthid(a);
  }
  return py::make_tuple(n_scored, ones, counted);
}

}  // namespace

void register_synthid(py::module_& m) {
  m.def("sample_synthid", &sample_synthid, py::arg("logits"), py::arg("logits_dtype"),
        py::arg("input_ids"), py::arg("keys"), py::arg("uniforms"), py::arg("enabled"),
        py::arg("width"), py::arg("seeding"), py::arg("layers"), py::arg("top_k"),
        py::arg("history"));
  m.def("score_synthid", &score_synthid, py::arg("tokens"), py::arg("offsets"), py::arg("prefix"),
        py::arg("key"), py::arg("width"), py::arg("seeding"), py::arg("layers"), py::arg("dedup"),
        py::arg("want_counted"));
}

}  // namespace tokenmark::bind
