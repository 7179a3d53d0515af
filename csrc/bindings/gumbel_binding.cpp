// `_C` bindings of the Gumbel operations: numpy buffers in, validated, pointers out.
#include "gumbel_binding.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "../cpu/gumbel_cpu.h"
#include "checks.h"

namespace tokenmark::bind {
namespace {

py::array_t<int64_t> sample_gumbel(py::array logits, const std::string& logits_dtype,
                                   py::array input_ids, py::array keys, py::array salts,
                                   std::optional<py::array> enabled, int width, int seeding,
                                   bool skip_repeated) {
  GumbelSampleArgs a{};
  const LogitsView lv = logits_view(logits, logits_dtype);
  a.logits = lv.data;
  a.batch = lv.batch;
  a.vocab = lv.vocab;
  a.logits_row_stride = lv.row_stride;
  a.dtype = lv.dtype;
  require_width_seeding(width, seeding);
  // The repeated-context search hashes every id of the row; otherwise only the last `width`.
  const IdsView iv = ids_view(input_ids, a.batch, skip_repeated ? INT64_MAX : width);
  a.input_ids = iv.data;
  a.ids_is_int64 = iv.is_int64;
  a.ids_len = iv.len;
  a.ids_row_stride = iv.row_stride;
  a.width = width;
  a.seeding = seeding;
  a.skip_repeated = skip_repeated;
  require_dtype<uint32_t>(keys, "keys", "uint32");
  a.key_stride = row_param_stride(keys, "keys", a.batch, 4);
  a.keys = static_cast<const uint32_t*>(keys.data());
  require_dtype<uint32_t>(salts, "salts", "uint32");
  a.salt_stride = row_param_stride(salts, "salts", a.batch);
  a.salts = static_cast<const uint32_t*>(salts.data());
  if (enabled) {
    require_dtype<uint8_t>(*enabled, "enabled", "uint8");
    require_ndim(*enabled, "enabled", 1);
    require_c_contiguous(*enabled, "enabled");
    if (enabled->shape(0) != a.batch) fail_value("enabled: expected one flag per row");
    a.enabled = static_cast<const uint8_t*>(enabled->data());
  }
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
                       bool want_counted) {
  GumbelScoreArgs a{};
  set_docs(a, tokens, offsets, prefix);
  key_words(key, a.key);
  require_width_seeding(width, seeding);
  require_dtype<uint32_t>(salts, "salts", "uint32");
  a.salt_stride = row_param_stride(salts, "salts", a.n_docs);
  a.salts = static_cast<const uint32_t*>(salts.data());
  a.width = width;
  a.seeding = seeding;
  a.dedup = dedup;
  py::array_t<int64_t> n_scored(a.n_docs);
  py::array_t<double> score(a.n_docs);
  a.n_scored = n_scored.mutable_data();
  a.score = score.mutable_data();
  py::object counted = py::none();
  if (want_counted) {
    py::array_t<uint8_t> c(a.n_tokens);
    a.counted = c.mutable_data();
    counted = c;
  }
  {
    py::gil_scoped_release release;
    cpu::score_gumbel(a);
  }
  return py::make_tuple(n_scored, score, counted);
}

}  // namespace

void register_gumbel(py::module_& m) {
  m.def("sample_gumbel", &sample_gumbel, py::arg("logits"), py::arg("logits_dtype"),
        py::arg("input_ids"), py::arg("keys"), py::arg("salts"), py::arg("enabled"),
        py::arg("width"), py::arg("seeding"), py::arg("skip_repeated"));
  m.def("score_gumbel", &score_gumbel, py::arg("tokens"), py::arg("offsets"), py::arg("prefix"),
        py::arg("key"), py::arg("salts"), py::arg("width"), py::arg("seeding"), py::arg("dedup"),
        py::arg("want_counted"));
}

}  // namespace tokenmark::bind
