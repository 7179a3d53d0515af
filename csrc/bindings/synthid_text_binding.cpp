// `_C` bindings of the SynthID-Text dialect (transformers / synthid-text): g-values, the fused
// detector counts, and the layer bits that speed the counts up for one (keys, table). The keys
// are a user's secret: no message or repr below shows them.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "../cpu/synthid_text_bits.h"
#include "../cpu/synthid_text_g.h"
#include "../cpu/synthid_text_score.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

// keys uint64 [depth], 1 <= depth <= 1024, and table uint8 [size >= 1], both C-contiguous.
void check_keys_table(const py::array& keys, const py::array& table) {
  require_dtype<uint64_t>(keys, "keys", "uint64");
  require_ndim(keys, "keys", 1);
  require_c_contiguous(keys, "keys");
  require_dtype<uint8_t>(table, "table", "uint8");
  require_ndim(table, "table", 1);
  require_c_contiguous(table, "table");
  if (keys.shape(0) < 1 || keys.shape(0) > 1024) fail_value("keys: expected 1 to 1024 keys");
  if (table.shape(0) < 1) fail_value("table: must not be empty");
}

// The layer bits of one (keys, table), with copies of both to check a caller's against. Empty
// bits: (keys, table) do not fit them (see synthid_text_bits.h) and the look-up path runs.
class LayerBits {
 public:
  LayerBits(const py::array& keys, const py::array& table) {
    check_keys_table(keys, table);
    const auto* k = static_cast<const uint64_t*>(keys.data());
    const auto* t = static_cast<const uint8_t*>(table.data());
    keys_.assign(k, k + keys.shape(0));
    table_.assign(t, t + table.shape(0));
    const int depth = static_cast<int>(keys_.size());
    const auto size = static_cast<int64_t>(table_.size());
    py::gil_scoped_release release;
    if (cpu::synthid_text_layer_bits_fit(table_.data(), size, depth)) {
      bits_ = cpu::synthid_text_layer_bits(keys_.data(), depth, table_.data(), size);
    }
  }
  bool active() const { return !bits_.empty(); }
  // For pickling: the keys and the table the bits were made from (the bits are rebuilt).
  py::tuple state() const {
    py::array_t<uint64_t> keys(static_cast<py::ssize_t>(keys_.size()));
    py::array_t<uint8_t> table(static_cast<py::ssize_t>(table_.size()));
    std::copy(keys_.begin(), keys_.end(), keys.mutable_data());
    std::copy(table_.begin(), table_.end(), table.mutable_data());
    return py::make_tuple(keys, table);
  }
  int64_t nbytes() const { return static_cast<int64_t>(bits_.size() * sizeof(uint32_t)); }
  // The bits for these keys and table (null when inactive); refuses others.
  const uint32_t* bits_for(const py::array& keys, const py::array& table) const {
    const auto n = static_cast<size_t>(keys.shape(0));
    const auto size = static_cast<size_t>(table.shape(0));
    if (n != keys_.size() || size != table_.size() ||
        std::memcmp(keys.data(), keys_.data(), n * sizeof(uint64_t)) != 0 ||
        std::memcmp(table.data(), table_.data(), size) != 0) {
      fail_value("layer_bits: made from other keys or another table");
    }
    return active() ? bits_.data() : nullptr;
  }
  std::string repr() const {
    return "SynthidTextLayerBits(depth=" + std::to_string(keys_.size()) +
           ", table_size=" + std::to_string(table_.size()) +
           ", active=" + (active() ? "True" : "False") + ")";
  }

 private:
  std::vector<uint64_t> keys_;
  std::vector<uint8_t> table_;
  std::vector<uint32_t> bits_;
};

// SynthID-Text's g-values [n, depth] uint8 of positions whose (context, token) hashes are given.
py::array_t<uint8_t> synthid_text_g_values(py::array hashes, py::array keys, py::array table) {
  require_dtype<uint64_t>(hashes, "hashes", "uint64");
  require_ndim(hashes, "hashes", 1);
  require_c_contiguous(hashes, "hashes");
  check_keys_table(keys, table);
  const int64_t depth = keys.shape(0);
  const int64_t n = hashes.shape(0);
  py::array_t<uint8_t> g({n, depth});
  const auto* h = static_cast<const uint64_t*>(hashes.data());
  const auto* k = static_cast<const uint64_t*>(keys.data());
  const auto* t = static_cast<const uint8_t*>(table.data());
  const int64_t size = table.shape(0);
  uint8_t* out = g.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::synthid_text_g_values(h, n, k, static_cast<int>(depth), t, size, out);
  }
  return g;
}

// SynthID-Text's detector counts over a ragged batch: (n_scored, ones [n_docs, depth], counted).
py::tuple score_synthid_text(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                             int ngram_len, py::array keys, py::array table, int64_t history,
                             bool mask_repeated, int64_t eos, bool want_flags,
                             const LayerBits* layer_bits) {
  const RaggedView dv = ragged_view(tokens, offsets, prefix);
  if (ngram_len < 1 || ngram_len > 1024) fail_value("ngram_len: must be in [1, 1024]");
  check_keys_table(keys, table);
  const int64_t depth = keys.shape(0);
  if (history < 0) fail_value("history: must be >= 0");
  if (eos < -1) fail_value("eos: must be a token id or -1");
  cpu::SynthidTextScoreArgs a{};
  a.tokens = dv.tokens;
  a.offsets = dv.offsets;
  a.prefix = dv.prefix;
  a.n_docs = dv.n_docs;
  a.ngram_len = ngram_len;
  a.keys = static_cast<const uint64_t*>(keys.data());
  a.depth = static_cast<int>(depth);
  a.table = static_cast<const uint8_t*>(table.data());
  a.table_size = table.shape(0);
  a.layer_bits = layer_bits ? layer_bits->bits_for(keys, table) : nullptr;
  a.history = history;
  a.mask_repeated = mask_repeated;
  a.eos = eos;
  py::array_t<int64_t> n_scored(a.n_docs);
  py::array_t<int64_t> ones({a.n_docs, depth});
  a.n_scored = n_scored.mutable_data();
  a.ones = ones.mutable_data();
  py::object counted = zeroed_flags(want_flags, dv.n_tokens, &a.counted);
  {
    py::gil_scoped_release release;
    cpu::score_synthid_text(a);
  }
  return py::make_tuple(n_scored, ones, counted);
}

}  // namespace

void register_synthid_text(py::module_& m) {
  py::class_<LayerBits>(m, "SynthidTextLayerBits")
      .def(py::init<const py::array&, const py::array&>(), py::arg("keys"), py::arg("table"))
      .def_property_readonly("active", &LayerBits::active)
      .def_property_readonly("nbytes", &LayerBits::nbytes)
      .def(py::pickle([](const LayerBits& b) { return b.state(); },
                      [](const py::tuple& t) {
                        if (t.size() != 2) fail_value("SynthidTextLayerBits: bad pickled state");
                        return LayerBits(t[0].cast<py::array>(), t[1].cast<py::array>());
                      }))
      .def("__repr__", &LayerBits::repr);
  m.def("synthid_text_g_values", &synthid_text_g_values, py::arg("hashes"), py::arg("keys"),
        py::arg("table"), "SynthID-Text g-values [n, depth] from (context, token) hashes.");
  m.def("score_synthid_text", &score_synthid_text, py::arg("tokens"), py::arg("offsets"),
        py::arg("prefix"), py::arg("ngram_len"), py::arg("keys"), py::arg("table"),
        py::arg("history"), py::arg("mask_repeated"), py::arg("eos"), py::arg("want_flags"),
        py::arg("layer_bits") = nullptr,
        "SynthID-Text's detector counts over documents: (n_scored, ones [n, depth], counted).\n"
        "layer_bits: a SynthidTextLayerBits of the same keys and table (faster), or None.");
}

}  // namespace tokenmark::bind::host
