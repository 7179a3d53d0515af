// `_C` bindings of the SynthID-Text operations: numpy buffers in, validated, pointers out.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "../cpu/cpu_features.h"
#include "../cpu/synthid_cpu.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

py::tuple sample_synthid(py::array logits, const std::string& logits_dtype, py::array input_ids,
                         py::array keys, py::array uniforms, std::optional<py::array> enabled,
                         int width, int seeding, int layers, int64_t top_k, int64_t history) {
  SynthIdSampleArgs a{};
  const int64_t ids_reach = synthid_sample_reach(layers, top_k, history, width);
  fill_rows(a, logits, logits_dtype, input_ids, ids_reach, keys, enabled, width, seeding);
  a.layers = layers;
  a.top_k = top_k;
  a.history = history;
  require_dtype<double>(uniforms, "uniforms", "float64");
  require_ndim(uniforms, "uniforms", 1);
  require_c_contiguous(uniforms, "uniforms");
  if (uniforms.shape(0) != a.batch) fail_value("uniforms: expected one per row");
  a.uniforms = static_cast<const double*>(uniforms.data());
  require_unit_draws(a.uniforms, a.batch);
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
                        bool want_counted, bool want_words) {
  SynthIdScoreArgs a{};
  DocOutputs out = fill_docs(a, tokens, offsets, prefix, key, width, seeding, dedup, want_counted);
  set_words(a, out, want_words);
  require_layers(layers);
  a.layers = layers;
  py::array_t<int64_t> ones({a.n_docs, static_cast<int64_t>(layers)});
  a.ones = ones.mutable_data();
  return score_released(cpu::score_synthid, a, out, ones);
}

py::array_t<double> synthid_phase_factors(py::array hist) {
  require_dtype<uint64_t>(hist, "hist", "uint64");
  require_ndim(hist, "hist", 1);
  require_c_contiguous(hist, "hist");
  const int64_t n = hist.shape(0);
  int bits = 0;
  while ((int64_t{1} << bits) < n) ++bits;
  if (n < 2 || n != (int64_t{1} << bits) || bits > kSynthIdPhaseBits) {
    fail_value("hist: expected 2^b bins, 1 <= b <= 10, got " + std::to_string(n));
  }
  const uint64_t* h = static_cast<const uint64_t*>(hist.data());
  for (int64_t q = 0; q < n; ++q) {
    if (h[q] >> 62) fail_value("hist: bins must be below 2^62 (sums of fixed-point weights)");
  }
  py::array_t<double> f(n);
  cpu::synthid_phase_factors(h, bits, f.mutable_data(), cpu::simd_enabled());
  return f;
}

}  // namespace

void register_synthid(py::module_& m) {
  m.def("synthid_phase_factors", &synthid_phase_factors, py::arg("hist"),
        "The factors of one tournament phase from its histogram (uint64, 2^b bins), as "
        "sample_synthid computes them (the AVX2 path unless set_simd_enabled(False)).");
  m.def("sample_synthid", &sample_synthid, py::arg("logits"), py::arg("logits_dtype"),
        py::arg("input_ids"), py::arg("keys"), py::arg("uniforms"), py::arg("enabled"),
        py::arg("width"), py::arg("seeding"), py::arg("layers"), py::arg("top_k"),
        py::arg("history"));
  m.def("score_synthid", &score_synthid, py::arg("tokens"), py::arg("offsets"), py::arg("prefix"),
        py::arg("key"), py::arg("width"), py::arg("seeding"), py::arg("layers"), py::arg("dedup"),
        py::arg("want_counted"), py::arg("want_words"));
}

}  // namespace tokenmark::bind::host
