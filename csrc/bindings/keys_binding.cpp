// `_C` bindings of the K-key scorers: K keys [n_keys, 4] scored in one pass over ragged
// documents; numpy buffers in, validated, pointers out.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>

#include "../cpu/keys_cpu.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

// Validates the documents (as fill_docs does) and the keys uint32 [n_keys, 4], points `a` at
// them and allocates the key-independent outputs (n_scored [n_docs], counted when asked).
DocOutputs fill_keys(KeysScoreArgs& a, const py::array& tokens, const py::array& offsets,
                     const std::optional<py::array>& prefix, const py::array& keys, int width,
                     int seeding, bool dedup, bool want_counted) {
  require_dtype<uint32_t>(keys, "keys", "uint32");
  if (keys.ndim() != 2 || keys.shape(1) != 4) fail_value("keys: expected shape [n_keys, 4]");
  require_c_contiguous(keys, "keys");
  const auto set_keys = [&] {
    a.key[0] = a.key[1] = a.key[2] = a.key[3] = 0;  // unused: the keys are in `keys`
    a.keys = static_cast<const uint32_t*>(keys.data());
    a.n_keys = keys.shape(0);
  };
  return fill_docs_with(a, tokens, offsets, prefix, set_keys, width, seeding, dedup, want_counted);
}

py::tuple score_kgw_keys(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                         py::array keys, uint64_t threshold, int width, int seeding, bool dedup,
                         bool want_counted) {
  KgwKeysScoreArgs a{};
  DocOutputs out = fill_keys(a, tokens, offsets, prefix, keys, width, seeding, dedup, want_counted);
  if (threshold == 0 || threshold > UINT32_MAX) fail_value("threshold: must be in [1, 2^32)");
  a.threshold = static_cast<uint32_t>(threshold);
  py::array_t<int64_t> n_green({a.n_keys, a.n_docs});
  a.n_green = n_green.mutable_data();
  return score_released(cpu::score_kgw_keys, a, out, n_green);
}

py::tuple score_gumbel_keys(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                            py::array keys, py::array salts, int width, int seeding, bool dedup,
                            bool want_counted) {
  GumbelKeysScoreArgs a{};
  DocOutputs out = fill_keys(a, tokens, offsets, prefix, keys, width, seeding, dedup, want_counted);
  a.salts = row_param<uint32_t>(salts, "salts", "uint32", a.n_docs, &a.salt_stride);
  py::array_t<double> score({a.n_keys, a.n_docs});
  a.score = score.mutable_data();
  return score_released(cpu::score_gumbel_keys, a, out, score);
}

py::tuple score_synthid_keys(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                             py::array keys, int width, int seeding, int layers, bool dedup,
                             bool want_counted) {
  SynthIdKeysScoreArgs a{};
  DocOutputs out = fill_keys(a, tokens, offsets, prefix, keys, width, seeding, dedup, want_counted);
  require_layers(layers);
  a.layers = layers;
  py::array_t<int64_t> ones({a.n_keys, a.n_docs, static_cast<int64_t>(layers)});
  a.ones = ones.mutable_data();
  return score_released(cpu::score_synthid_keys, a, out, ones);
}

}  // namespace

void register_keys(py::module_& m) {
  m.def("score_kgw_keys", &score_kgw_keys, py::arg("tokens"), py::arg("offsets"), py::arg("prefix"),
        py::arg("keys"), py::arg("threshold"), py::arg("width"), py::arg("seeding"),
        py::arg("dedup"), py::arg("want_counted"));
  m.def("score_gumbel_keys", &score_gumbel_keys, py::arg("tokens"), py::arg("offsets"),
        py::arg("prefix"), py::arg("keys"), py::arg("salts"), py::arg("width"), py::arg("seeding"),
        py::arg("dedup"), py::arg("want_counted"));
  m.def("score_synthid_keys", &score_synthid_keys, py::arg("tokens"), py::arg("offsets"),
        py::arg("prefix"), py::arg("keys"), py::arg("width"), py::arg("seeding"), py::arg("layers"),
        py::arg("dedup"), py::arg("want_counted"));
}

}  // namespace tokenmark::bind::host
