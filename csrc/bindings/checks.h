// Argument checks shared by the bindings: each failure raises a Python ValueError or TypeError
// that names the argument, never the values of secret ones.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "tokenmark/common_params.h"
#include "tokenmark/synthid.h"  // kSynthIdMaxLayers

namespace tokenmark::bind {
namespace py = pybind11;

[[noreturn]] inline void fail_type(const std::string& msg) { throw py::type_error(msg); }
[[noreturn]] inline void fail_value(const std::string& msg) { throw py::value_error(msg); }

template <typename T>
bool has_dtype(const py::array& a) {
  // Equivalent, not identical: numpy's uint64 and ulonglong (int64 and longlong) are distinct
  // dtype objects of the same size and kind, and numpy itself compares them equal.
  return a.dtype().equal(py::dtype::of<T>());
}

template <typename T>
void require_dtype(const py::array& a, const char* name, const char* expected) {
  if (!has_dtype<T>(a)) {
    fail_type(std::string(name) + ": expected dtype " + expected + ", got " +
              std::string(py::str(a.dtype())));
  }
}

inline void require_ndim(const py::array& a, const char* name, int ndim) {
  if (a.ndim() != ndim) {
    fail_value(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions, got " +
               std::to_string(a.ndim()));
  }
}

inline void require_c_contiguous(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style)) fail_value(std::string(name) + ": must be C-contiguous");
}

// A 1-D C-contiguous array of element type T (`dtype` names it).
template <typename T>
void require_vector(const py::array& a, const char* name, const char* dtype) {
  require_dtype<T>(a, name, dtype);
  require_ndim(a, name, 1);
  require_c_contiguous(a, name);
}

// A per-row parameter: shape [rows] (one per row) or [1] (broadcast). Returns the stride.
inline int64_t row_param_stride(const py::array& a, const char* name, int64_t rows,
                                int64_t width = 1) {
  require_c_contiguous(a, name);
  const int64_t n = a.ndim() >= 1 ? a.shape(0) : 0;
  const bool shape_ok = width == 1 ? a.ndim() == 1 : (a.ndim() == 2 && a.shape(1) == width);
  if (!shape_ok || (n != 1 && n != rows)) {
    fail_value(std::string(name) + ": expected shape [" + std::to_string(rows) +
               (width == 1 ? "" : ", " + std::to_string(width)) + "] or [1" +
               (width == 1 ? "" : ", " + std::to_string(width)) + "]");
  }
  return n == 1 && rows != 1 ? 0 : width;
}

// A per-row parameter of element type T (`dtype` names it), shape [rows] or [1] ([rows, width]
// or [1, width] for width > 1): its data, with its stride in *stride.
template <typename T>
const T* row_param(const py::array& a, const char* name, const char* dtype, int64_t rows,
                   int64_t* stride, int64_t width = 1) {
  require_dtype<T>(a, name, dtype);
  *stride = row_param_stride(a, name, rows, width);
  return static_cast<const T*>(a.data());
}

inline void require_layers(int layers) {
  if (layers < 1 || layers > kSynthIdMaxLayers)
    fail_value("layers: must be in [1, 32], got " + std::to_string(layers));
}

// SynthID sampling's own parameters, checked; returns how many trailing ids of each row its
// repeated-context search reads (the last `history + width`).
inline int64_t synthid_sample_reach(int layers, int64_t top_k, int64_t history, int width) {
  require_layers(layers);
  if (top_k < 0) fail_value("top_k: must be >= 0 (0: the whole vocabulary)");
  if (history < 0) fail_value("context_history: must be >= 0");
  return history > INT64_MAX - width ? INT64_MAX : history + width;
}

// Each row's sampling draw, in [0, 1).
inline void require_unit_draws(const double* uniforms, int64_t n) {
  for (int64_t b = 0; b < n; ++b) {
    if (!(uniforms[b] >= 0.0 && uniforms[b] < 1.0)) fail_value("uniforms: must be in [0, 1)");
  }
}

inline void require_width_seeding(int width, int seeding) {
  if (width < 0 || width > 1024)
    fail_value("context_width: must be in [0, 1024], got " + std::to_string(width));
  if (seeding != 0 && seeding != 1)
    fail_value("seeding: unknown seeding code " + std::to_string(seeding));
}

// The dtype code of host logits, checked against the array's dtype.
inline LogitsDtype parse_logits_dtype(const py::array& logits, const std::string& dtype) {
  if (dtype == "float32") {
    require_dtype<float>(logits, "logits", "float32");
    return kFloat32;
  }
  if (dtype == "float16") {
    if (logits.dtype().kind() != 'f' || logits.itemsize() != 2)
      fail_type("logits: expected dtype float16");
    return kFloat16;
  }
  if (dtype == "bfloat16") {
    // numpy has no bfloat16: the Python layer passes the raw 16-bit patterns.
    if (logits.dtype().kind() == 'f' || logits.itemsize() != 2) {
      fail_type("logits: bfloat16 logits travel as int16/uint16 bit patterns");
    }
    return kBFloat16;
  }
  fail_value("logits_dtype: expected float32, float16 or bfloat16, got " + dtype);
}

// Host logits [batch, vocab] with contiguous rows: fills the pointer, sizes and row stride.
struct LogitsView {
  const void* data;
  int64_t batch, vocab, row_stride;
  LogitsDtype dtype;
};

inline LogitsView logits_view(const py::array& logits, const std::string& logits_dtype) {
  LogitsView v{};
  v.dtype = parse_logits_dtype(logits, logits_dtype);
  require_ndim(logits, "logits", 2);
  const int64_t esize = logits.itemsize();
  const bool empty = logits.size() == 0;
  if (!empty && logits.shape(1) > 1 && logits.strides(1) != esize)
    fail_value("logits: rows must be contiguous");
  if (!empty && (logits.strides(0) % esize != 0 || logits.strides(0) < 0))
    fail_value("logits: unsupported row stride");
  v.data = logits.data();
  v.batch = logits.shape(0);
  v.vocab = logits.shape(1);
  v.row_stride = logits.shape(0) > 1 ? logits.strides(0) / esize : v.vocab;
  if (v.vocab > INT32_MAX) fail_value("logits: vocabulary wider than 2^31");
  return v;
}

// Input ids [batch, len] (int32 or int64) with contiguous rows. The ids of columns [from, len)
// must be valid token ids (they enter context hashes).
struct IdsView {
  const void* data;
  bool is_int64;
  int64_t len, row_stride;
};

template <typename IdT>
void check_id_range(const IdT* ids, int64_t batch, int64_t len, int64_t row_stride, int64_t from) {
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t j = from; j < len; ++j) {
      const int64_t t = ids[b * row_stride + j];
      if (t < 0 || t > INT32_MAX) fail_value("input_ids: token ids must be in [0, 2^31)");
    }
  }
}

inline IdsView ids_view(const py::array& input_ids, int64_t batch, int64_t from_end) {
  IdsView v{};
  require_ndim(input_ids, "input_ids", 2);
  if (input_ids.shape(0) != batch) {
    fail_value("input_ids: expected " + std::to_string(batch) + " rows (one per logits row), got " +
               std::to_string(input_ids.shape(0)));
  }
  if (has_dtype<int64_t>(input_ids)) {
    v.is_int64 = true;
  } else if (!has_dtype<int32_t>(input_ids)) {
    fail_type("input_ids: expected dtype int32 or int64, got " +
              std::string(py::str(input_ids.dtype())));
  }
  const int64_t isize = input_ids.itemsize();
  if (input_ids.size() > 0 && input_ids.shape(1) > 1 && input_ids.strides(1) != isize)
    fail_value("input_ids: rows must be contiguous");
  if (input_ids.size() > 0 && (input_ids.strides(0) % isize != 0 || input_ids.strides(0) < 0))
    fail_value("input_ids: unsupported row stride");
  v.data = input_ids.data();
  v.len = input_ids.shape(1);
  v.row_stride = input_ids.shape(0) > 1 ? input_ids.strides(0) / isize : v.len;
  const int64_t from = std::max<int64_t>(0, v.len - from_end);
  if (v.is_int64) {
    check_id_range(static_cast<const int64_t*>(v.data), batch, v.len, v.row_stride, from);
  } else {
    check_id_range(static_cast<const int32_t*>(v.data), batch, v.len, v.row_stride, from);
  }
  return v;
}

inline void key_words(const py::array& key, uint32_t out[4]) {
  require_dtype<uint32_t>(key, "key", "uint32");
  if (key.ndim() != 1 || key.shape(0) != 4) fail_value("key: expected 4 words");
  require_c_contiguous(key, "key");
  const uint32_t* kw = static_cast<const uint32_t*>(key.data());
  for (int i = 0; i < 4; ++i) out[i] = kw[i];
}

inline void require_flags(const std::optional<py::array>& flags, const char* name, int64_t n) {
  if (!flags) return;
  require_vector<uint8_t>(*flags, name, "uint8");
  if (flags->shape(0) != n) fail_value(std::string(name) + ": expected one flag per row");
}

// Validates the arguments every logits-row operation shares and points `a` at them. Only the
// last `ids_reach` ids of each row must be valid token ids (they enter context hashes). An
// in-place operation (`LogitsT` = void) needs writeable logits whose rows do not overlap.
template <typename LogitsT>
void fill_rows(RowArgs<LogitsT>& a, py::array& logits, const std::string& logits_dtype,
               const py::array& input_ids, int64_t ids_reach, const py::array& keys,
               const std::optional<py::array>& enabled, int width, int seeding) {
  require_width_seeding(width, seeding);
  constexpr bool kInPlace = !std::is_const_v<LogitsT>;
  if (kInPlace && !logits.writeable()) {
    fail_value("logits: must be writeable (the operation writes it in place)");
  }
  const LogitsView lv = logits_view(logits, logits_dtype);
  if constexpr (kInPlace) {
    a.logits = logits.mutable_data();
    if (lv.row_stride < lv.vocab) fail_value("logits: rows overlap");
  } else {
    a.logits = lv.data;
  }
  a.dtype = lv.dtype;
  a.batch = lv.batch;
  a.vocab = lv.vocab;
  a.logits_row_stride = lv.row_stride;
  const IdsView iv = ids_view(input_ids, a.batch, ids_reach);
  a.input_ids = iv.data;
  a.ids_is_int64 = iv.is_int64;
  a.ids_len = iv.len;
  a.ids_row_stride = iv.row_stride;
  a.keys = row_param<uint32_t>(keys, "keys", "uint32", a.batch, &a.key_stride, 4);
  require_flags(enabled, "enabled", a.batch);
  a.enabled = enabled ? static_cast<const uint8_t*>(enabled->data()) : nullptr;
  a.width = width;
  a.seeding = seeding;
}

// Ragged documents, validated: tokens int32 >= 0, offsets int64 from 0 to n_tokens and
// non-decreasing, optional prefix lengths >= 0 (any size: the kernels clamp them).
struct RaggedView {
  const int32_t* tokens;  // [n_tokens]
  int64_t n_tokens;
  const int64_t* offsets;  // [n_docs + 1]
  int64_t n_docs;
  const int64_t* prefix;  // [n_docs] or nullptr
};

inline RaggedView ragged_view(const py::array& tokens, const py::array& offsets,
                              const std::optional<py::array>& prefix) {
  RaggedView v{};
  require_vector<int32_t>(tokens, "tokens", "int32");
  require_vector<int64_t>(offsets, "offsets", "int64");
  v.tokens = static_cast<const int32_t*>(tokens.data());
  v.n_tokens = tokens.shape(0);
  v.offsets = static_cast<const int64_t*>(offsets.data());
  if (offsets.shape(0) < 1) fail_value("offsets: needs at least one entry (0)");
  v.n_docs = offsets.shape(0) - 1;
  if (v.offsets[0] != 0) fail_value("offsets: must start at 0");
  for (int64_t d = 0; d < v.n_docs; ++d) {
    if (v.offsets[d + 1] < v.offsets[d]) fail_value("offsets: must be non-decreasing");
  }
  if (v.offsets[v.n_docs] != v.n_tokens)
    fail_value("offsets: last entry must equal the number of tokens");
  v.prefix = nullptr;
  if (prefix) {
    require_vector<int64_t>(*prefix, "prefix_lengths", "int64");
    if (prefix->shape(0) != v.n_docs) fail_value("prefix_lengths: expected one entry per document");
    v.prefix = static_cast<const int64_t*>(prefix->data());
    for (int64_t d = 0; d < v.n_docs; ++d) {
      if (v.prefix[d] < 0) fail_value("prefix_lengths: must be >= 0");
    }
  }
  // A branch-free minimum vectorises: this pass costs little next to scoring.
  int32_t lo = 0;
  for (int64_t i = 0; i < v.n_tokens; ++i) lo = std::min(lo, v.tokens[i]);
  if (lo < 0) fail_value("tokens: token ids must be >= 0");
  return v;
}

// Per-token flags of a ragged batch, zeroed (uint8 [n_tokens]), with *data pointing at them; or
// None and *data null when not wanted.
inline py::object zeroed_flags(bool want, int64_t n_tokens, uint8_t** data) {
  *data = nullptr;
  if (!want) return py::none();
  py::array_t<uint8_t> flags(n_tokens);
  *data = flags.mutable_data();
  std::fill(*data, *data + n_tokens, uint8_t{0});
  return std::move(flags);
}

// The outputs every scoring operation shares: counts per document, flags per token (or None).
struct DocOutputs {
  py::array_t<int64_t> n_scored;
  py::object counted;
  py::object words = py::none();  // uint32 [n_tokens] where asked for (set_words), else None
};

// Asks the scan for each counted token's PRF word (DocArgs::words), returned after `counted`.
inline void set_words(DocArgs& a, DocOutputs& out, bool want_words) {
  a.words = nullptr;
  if (!want_words) return;
  py::array_t<uint32_t> w(a.n_tokens);
  a.words = w.mutable_data();
  out.words = w;
}

// Validates ragged documents (ragged_view) and the arguments every scoring operation shares,
// points `a` at them and allocates the shared outputs (`counted` only when `want_counted`);
// `set_key()` validates and sets the key(s), between the documents and the width, so that the
// errors come in argument order.
template <class SetKey>
DocOutputs fill_docs_with(DocArgs& a, const py::array& tokens, const py::array& offsets,
                          const std::optional<py::array>& prefix, SetKey set_key, int width,
                          int seeding, bool dedup, bool want_counted) {
  const RaggedView v = ragged_view(tokens, offsets, prefix);
  a.tokens = v.tokens;
  a.n_tokens = v.n_tokens;
  a.offsets = v.offsets;
  a.n_docs = v.n_docs;
  a.prefix = v.prefix;
  set_key();
  require_width_seeding(width, seeding);
  a.width = width;
  a.seeding = seeding;
  a.dedup = dedup;
  DocOutputs out{py::array_t<int64_t>(a.n_docs), py::none()};
  a.n_scored = out.n_scored.mutable_data();
  a.counted = nullptr;
  if (want_counted) {
    py::array_t<uint8_t> c(a.n_tokens);
    a.counted = c.mutable_data();
    out.counted = c;
  }
  return out;
}

// Runs the scorer `score(a)` without the GIL (what it reads is validated by now) and returns
// (n_scored, values..., counted), the tuple of every scoring operation, with `words` after it
// where they were asked for (set_words).
template <class Args, class Score, class... Values>
py::tuple score_released(Score score, const Args& a, const DocOutputs& out,
                         const Values&... values) {
  {
    py::gil_scoped_release release;
    score(a);
  }
  if (!out.words.is_none()) return py::make_tuple(out.n_scored, values..., out.counted, out.words);
  return py::make_tuple(out.n_scored, values..., out.counted);
}

// fill_docs_with for one key (uint32 [4]).
inline DocOutputs fill_docs(DocArgs& a, const py::array& tokens, const py::array& offsets,
                            const std::optional<py::array>& prefix, const py::array& key, int width,
                            int seeding, bool dedup, bool want_counted) {
  return fill_docs_with(
      a, tokens, offsets, prefix, [&] { key_words(key, a.key); }, width, seeding, dedup,
      want_counted);
}

}  // namespace tokenmark::bind
