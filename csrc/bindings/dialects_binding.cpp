// `_C` bindings of the dialects' helpers: torch's CPU randperm and the KGW green lists drawn from
// it (transformers, TGI). Seeds are not secret words of ours but may be derived from a user's
// hashing key: no message below prints one.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <type_traits>

#include "../cpu/kgw_stored_rows.h"
#include "../cpu/mt19937.h"
#include "../cpu/sglang_score.h"
#include "../cpu/vllm_score.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

void require_n(int64_t n, const char* name, int64_t lo) {
  if (n < lo || n >= cpu::kRandpermMaxN) {
    fail_value(std::string(name) + ": must be in [" + std::to_string(lo) + ", " +
               std::to_string(cpu::kRandpermMaxN) + ") (torch's CPU randperm), got " +
               std::to_string(n));
  }
}

py::array_t<int64_t> torch_cpu_randperm(uint64_t seed, int64_t n) {
  require_n(n, "n", 0);
  py::array_t<int64_t> out(n);
  int64_t* data = out.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::torch_cpu_randperm(static_cast<uint32_t>(seed), n, data);
  }
  return out;
}

void check_green_lists(const py::array& seeds, int64_t vocab, int64_t green_size) {
  require_dtype<uint32_t>(seeds, "seeds", "uint32");
  require_ndim(seeds, "seeds", 1);
  require_c_contiguous(seeds, "seeds");
  require_n(vocab, "vocab", 1);
  if (green_size < 0 || green_size > vocab) fail_value("green_size: must be in [0, vocab]");
}

void draw_green_lists(const py::array& seeds, int64_t vocab, int64_t green_size, uint8_t* out) {
  const auto* s = static_cast<const uint32_t*>(seeds.data());
  const int64_t n_seeds = seeds.shape(0);
  py::gil_scoped_release release;
  cpu::torch_cpu_green_lists(s, n_seeds, vocab, green_size, out);
}

py::array_t<uint8_t> torch_cpu_green_lists(py::array seeds, int64_t vocab, int64_t green_size) {
  check_green_lists(seeds, vocab, green_size);
  py::array_t<uint8_t> bits({static_cast<int64_t>(seeds.shape(0)), (vocab + 7) / 8});
  draw_green_lists(seeds, vocab, green_size, bits.mutable_data());
  return bits;
}

// The same lists drawn straight into `out` (uint8 [n_seeds, ceil(vocab / 8)], C-contiguous and
// writeable: rows of a caller's store), so that a cache holds them without a copy.
void torch_cpu_green_lists_into(py::array seeds, int64_t vocab, int64_t green_size, py::array out) {
  check_green_lists(seeds, vocab, green_size);
  require_dtype<uint8_t>(out, "out", "uint8");
  require_ndim(out, "out", 2);
  require_c_contiguous(out, "out");
  if (out.shape(0) != seeds.shape(0) || out.shape(1) != (vocab + 7) / 8) {
    fail_value("out: expected [n_seeds, ceil(vocab / 8)]");
  }
  if (!out.writeable()) fail_value("out: must be writeable");
  draw_green_lists(seeds, vocab, green_size, static_cast<uint8_t*>(out.mutable_data()));
}

// KGW counts against stored green-list rows (lefthash): (n_scored, n_green), or None when a
// scored position's previous token has no stored row (the caller then draws the lists).
py::object score_kgw_stored_rows(py::array tokens, py::array offsets, py::array first,
                                 py::array row_of_prev, py::array store, int64_t vocab) {
  const RaggedView dv = ragged_view(tokens, offsets, std::nullopt);
  require_vector<int64_t>(first, "first", "int64");
  require_vector<int64_t>(row_of_prev, "row_of_prev", "int64");
  require_dtype<uint8_t>(store, "store", "uint8");
  require_ndim(store, "store", 2);
  require_c_contiguous(store, "store");
  if (vocab < 1 || store.shape(1) != (vocab + 7) / 8) {
    fail_value("store: expected rows of ceil(vocab / 8) bytes");
  }
  if (first.shape(0) != dv.n_docs) fail_value("first: expected one entry per document");
  cpu::KgwStoredRowsArgs a{};
  a.first = static_cast<const int64_t*>(first.data());
  for (int64_t d = 0; d < dv.n_docs; ++d) {
    if (a.first[d] <= dv.offsets[d]) fail_value("first: must be past each document's start");
  }
  a.tokens = dv.tokens;
  a.offsets = dv.offsets;
  a.n_docs = dv.n_docs;
  a.row_of_prev = static_cast<const int64_t*>(row_of_prev.data());
  a.table_len = row_of_prev.shape(0);
  a.store = static_cast<const uint8_t*>(store.data());
  a.n_rows = store.shape(0);
  a.row_bytes = store.shape(1);
  a.vocab = vocab;
  py::array_t<int64_t> n_scored(a.n_docs), n_green(a.n_docs);
  a.n_scored = n_scored.mutable_data();
  a.n_green = n_green.mutable_data();
  bool complete;
  {
    py::gil_scoped_release release;
    complete = cpu::score_kgw_stored_rows(a);
  }
  if (!complete) return py::none();
  return py::make_tuple(n_scored, n_green);
}

// vLLM's Gumbel detector over a ragged batch: (n_scored, score, counted or None). starts: each
// document's first scored position, or None for 0 (as the other scorers' prefix).
py::tuple score_vllm_gumbel(py::array tokens, py::array offsets, std::optional<py::array> starts,
                            int width, py::array keys, py::array weights, bool dedup,
                            bool want_flags) {
  const RaggedView dv = ragged_view(tokens, offsets, std::nullopt);
  if (starts) {
    require_dtype<int64_t>(*starts, "starts", "int64");
    require_ndim(*starts, "starts", 1);
    require_c_contiguous(*starts, "starts");
    if (starts->shape(0) != dv.n_docs) fail_value("starts: expected one per document");
  }
  if (width < 1 || width > 1024) fail_value("width: must be in [1, 1024]");
  require_dtype<uint64_t>(keys, "keys", "uint64");
  require_ndim(keys, "keys", 1);
  require_c_contiguous(keys, "keys");
  require_dtype<double>(weights, "weights", "float64");
  require_ndim(weights, "weights", 1);
  require_c_contiguous(weights, "weights");
  if (keys.shape(0) < 1 || keys.shape(0) > 2 || weights.shape(0) != keys.shape(0)) {
    fail_value("keys, weights: expected 1 or 2 keys and one weight per key");
  }
  cpu::VllmScoreArgs a{};
  a.tokens = dv.tokens;
  a.offsets = dv.offsets;
  a.starts = starts ? static_cast<const int64_t*>(starts->data()) : nullptr;
  a.n_docs = dv.n_docs;
  for (int64_t d = 0; a.starts && d < a.n_docs; ++d) {
    const int64_t len = a.offsets[d + 1] - a.offsets[d];
    if (a.starts[d] < 0 || a.starts[d] > len) fail_value("starts: must be in [0, document length]");
  }
  a.width = width;
  a.keys = static_cast<const uint64_t*>(keys.data());
  a.weights = static_cast<const double*>(weights.data());
  a.n_keys = static_cast<int>(keys.shape(0));
  a.dedup = dedup;
  py::array_t<int64_t> n_scored(a.n_docs);
  py::array_t<double> score(a.n_docs);
  a.n_scored = n_scored.mutable_data();
  a.score = score.mutable_data();
  py::object counted = zeroed_flags(want_flags, dv.n_tokens, &a.counted);
  {
    py::gil_scoped_release release;
    cpu::score_vllm_gumbel(a);
  }
  return py::make_tuple(n_scored, score, counted);
}

// SGLang's detector over a ragged batch: (n_scored, n_key_a, sums [n_docs, 5], counted or None).
py::tuple score_sglang(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                       int width, int64_t max_contexts, py::array keys, uint64_t threshold,
                       bool want_flags) {
  const RaggedView dv = ragged_view(tokens, offsets, prefix);
  if (width < 1 || width > 64) fail_value("width: must be in [1, 64]");
  if (max_contexts < 1) fail_value("max_contexts: must be >= 1");
  require_dtype<uint64_t>(keys, "keys", "uint64");
  require_ndim(keys, "keys", 1);
  require_c_contiguous(keys, "keys");
  if (keys.shape(0) < 1 || keys.shape(0) > 2) fail_value("keys: expected 1 or 2 keys");
  if (threshold > 0xFFFFFFFFull) fail_value("threshold: must be below 2^32");
  cpu::SglangScoreArgs a{};
  a.tokens = dv.tokens;
  a.offsets = dv.offsets;
  a.prefix = dv.prefix;
  a.n_docs = dv.n_docs;
  a.width = width;
  a.max_contexts = max_contexts;
  a.keys = static_cast<const uint64_t*>(keys.data());
  a.n_keys = static_cast<int>(keys.shape(0));
  a.threshold = static_cast<uint32_t>(threshold);
  py::array_t<int64_t> n_scored(a.n_docs), n_key_a(a.n_docs);
  py::array_t<double> sums({a.n_docs, static_cast<int64_t>(5)});
  a.n_scored = n_scored.mutable_data();
  a.n_key_a = n_key_a.mutable_data();
  a.sums = sums.mutable_data();
  py::object counted = zeroed_flags(want_flags, dv.n_tokens, &a.counted);
  {
    py::gil_scoped_release release;
    cpu::score_sglang(a);
  }
  return py::make_tuple(n_scored, n_key_a, sums, counted);
}

}  // namespace

void register_dialects(py::module_& m) {
  m.def("torch_cpu_randperm", &torch_cpu_randperm, py::arg("seed"), py::arg("n"),
        "torch.randperm(n) after torch.Generator().manual_seed(seed) (low 32 bits), int64.");
  m.def("torch_cpu_green_lists", &torch_cpu_green_lists, py::arg("seeds"), py::arg("vocab"),
        py::arg("green_size"),
        "Per uint32 seed, randperm(vocab)[:green_size] as a little-endian bitset [n, ceil(v/8)].");
  m.def("torch_cpu_green_lists_into", &torch_cpu_green_lists_into, py::arg("seeds"),
        py::arg("vocab"), py::arg("green_size"), py::arg("out"),
        "torch_cpu_green_lists written into out (uint8 [n, ceil(v/8)], C-contiguous, writeable).");
  m.def("score_kgw_stored_rows", &score_kgw_stored_rows, py::arg("tokens"), py::arg("offsets"),
        py::arg("first"), py::arg("row_of_prev"), py::arg("store"), py::arg("vocab"),
        "KGW (lefthash) counts against stored green-list rows: (n_scored, n_green), or None "
        "where a previous token has no row.");
  m.def("score_vllm_gumbel", &score_vllm_gumbel, py::arg("tokens"), py::arg("offsets"),
        py::arg("starts"), py::arg("width"), py::arg("keys"), py::arg("weights"), py::arg("dedup"),
        py::arg("want_flags"),
        "vLLM's Gumbel detector over documents: (n_scored, score, counted flags or None).");
  m.def("score_sglang", &score_sglang, py::arg("tokens"), py::arg("offsets"), py::arg("prefix"),
        py::arg("width"), py::arg("max_contexts"), py::arg("keys"), py::arg("threshold"),
        py::arg("want_flags"),
        "SGLang's watermark detector over documents: (n_scored, n_key_a, sums [n, 5], counted).");
}

}  // namespace tokenmark::bind::host
