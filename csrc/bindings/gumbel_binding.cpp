// `_C` bindings of the Gumbel operations: numpy buffers in, validated, pointers out.
#include "gumbel_binding.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>

#include "../cpu/gumbel_cpu.h"
#include "checks.h"

namespace tokenmark::bind {
namespace {

// Every id that enters a context hash must be a valid token id: the last `width` of each row, or
// the whole row when repeated contexts are looked for.
template <typename IdT>
void check_ids(const IdT* ids, int64_t batch, int64_t len, int64_t row_stride, int64_t from) {
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t j = from; j < len; ++j) {
      const int64_t t = ids[b * row_stride + j];
      if (t < 0 || t > INT32_MAX) fail_value("input_ids: token ids must be in [0, 2^31)");
    }
  }
}

py::array_t<int64_t> sample_gumbel(py::array logits, const std::string& logits_dtype,
                                   py::array input_ids, py::array keys, py::array salts,
                                   std::optional<py::array> enabled, int width, int seeding,
                                   bool skip_repeated) {
  GumbelSampleArgs a{};
  a.dtype = parse_logits_dtype(logits, logits_dtype);
  require_ndim(logits, "logits", 2);
  const int64_t esize = logits.itemsize();
  const bool empty = logits.size() == 0;
  if (!empty && logits.shape(1) > 1 && logits.strides(1) != esize)
    fail_value("logits: rows must be contiguous");
  if (!empty && (logits.strides(0) % esize != 0 || logits.strides(0) < 0))
    fail_value("logits: unsupported row stride");
  a.logits = logits.data();
  a.batch = logits.shape(0);
  a.vocab = logits.shape(1);
  a.logits_row_stride = logits.shape(0) > 1 ? logits.strides(0) / esize : a.vocab;
  if (a.vocab > INT32_MAX) fail_value("logits: vocabulary wider than 2^31");

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
  if (input_ids.size() > 0 && input_ids.shape(1) > 1 && input_ids.strides(1) != isize)
    fail_value("input_ids: rows must be contiguous");
  if (input_ids.size() > 0 && (input_ids.strides(0) % isize != 0 || input_ids.strides(0) < 0))
    fail_value("input_ids: unsupported row stride");
  a.input_ids = input_ids.data();
  a.ids_len = input_ids.shape(1);
  a.ids_row_stride = input_ids.shape(0) > 1 ? input_ids.strides(0) / isize : a.ids_len;

  require_width_seeding(width, seeding);
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
  if (a.ids_len >= width) {
    const int64_t from = skip_repeated ? 0 : a.ids_len - width;
    if (a.ids_is_int64) {
      check_ids(static_cast<const int64_t*>(a.input_ids), a.batch, a.ids_len, a.ids_row_stride,
                from);
    } else {
      check_ids(static_cast<const int32_t*>(a.input_ids), a.batch, a.ids_len, a.ids_row_stride,
                from);
    }
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
  require_dtype<uint32_t>(salts, "salts", "uint32");
  a.salt_stride = row_param_stride(salts, "salts", a.n_docs);
  a.salts = static_cast<const uint32_t*>(salts.data());
  for (int64_t i = 0; i < a.n_tokens; ++i) {
    if (a.tokens[i] < 0) fail_value("tokens: token ids must be >= 0");
  }
  const uint32_t* kw = static_cast<const uint32_t*>(key.data());
  std::copy(kw, kw + 4, a.key);
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
