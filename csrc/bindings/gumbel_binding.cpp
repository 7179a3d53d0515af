// `_C` bindings of the Gumbel operations: numpy buffers in, validated, pointers out.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "../cpu/gumbel_cpu.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

py::array_t<int64_t> sample_gumbel(py::array logits, const std::string& logits_dtype,
                                   py::array input_ids, py::array keys, py::array salts,
                                   std::optional<py::array> enabled, int width, int seeding,
                                   bool skip_repeated) {
  GumbelSampleArgs a{};
  // The repeated-context search hashes every id of the row; otherwise only the last `width`.
  const int64_t ids_reach = skip_repeated ? INT64_MAX : width;
  fill_rows(a, logits, logits_dtype, input_ids, ids_reach, keys, enabled, width, seeding);
  a.skip_repeated = skip_repeated;
  a.salts = row_param<uint32_t>(salts, "salts", "uint32", a.batch, &a.salt_stride);
  py::array_t<int64_t> out(a.batch);
  a.out = out.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::sample_gumbel(a);
  }
  return out;
}

py::tuple score_gumbel(py::array tokens, py::array offsets, std::optional<py::array> prefix,
                       py::array key, py::array salts, int width, int seeding, bool dedup,
                       bool want_counted, bool want_words) {
  GumbelScoreArgs a{};
  DocOutputs out = fill_docs(a, tokens, offsets, prefix, key, width, seeding, dedup, want_counted);
  set_words(a, out, want_words);
  a.salts = row_param<uint32_t>(salts, "salts", "uint32", a.n_docs, &a.salt_stride);
  py::array_t<double> score(a.n_docs);
  a.score = score.mutable_data();
  return score_released(cpu::score_gumbel, a, out, score);
}

}  // namespace

void register_gumbel(py::module_& m) {
  m.def("sample_gumbel", &sample_gumbel, py::arg("logits"), py::arg("logits_dtype"),
        py::arg("input_ids"), py::arg("keys"), py::arg("salts"), py::arg("enabled"),
        py::arg("width"), py::arg("seeding"), py::arg("skip_repeated"));
  m.def("score_gumbel", &score_gumbel, py::arg("tokens"), py::arg("offsets"), py::arg("prefix"),
        py::arg("key"), py::arg("salts"), py::arg("width"), py::arg("seeding"), py::arg("dedup"),
        py::arg("want_counted"), py::arg("want_words"));
}

}  // namespace tokenmark::bind::host
