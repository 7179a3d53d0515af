// `_C.flatten_id_lists`: a list of token id lists (or tuples) of Python ints, flattened into the
// ragged form in one pass in C++, so that detect() on Python lists costs little more than the
// scoring itself. It only takes the plain case and answers None for anything else (another
// type, a bool, a float, an id outside [0, 2^31)); the caller then takes its per-document path,
// whose errors name the document. Ids below 2^30 (one digit of a CPython int) are read from the
// int objects directly, on all threads; a document with any other item takes the exact C API
// path, with the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

#include "register.h"

namespace tokenmark::bind::host {
namespace {

namespace py = pybind11;

// The items (borrowed) and size of a list or tuple; false for other objects. An empty list's
// items pointer is null, hence the separate answer.
bool items_of(PyObject* seq, PyObject*** items, Py_ssize_t* n) {
  if (PyList_CheckExact(seq)) {
    *n = PyList_GET_SIZE(seq);
    *items = reinterpret_cast<PyListObject*>(seq)->ob_item;
    return true;
  }
  if (PyTuple_CheckExact(seq)) {
    *n = PyTuple_GET_SIZE(seq);
    *items = reinterpret_cast<PyTupleObject*>(seq)->ob_item;
    return true;
  }
  return false;
}

// The value of an exact int in [0, 2^31), read the slow, exact way; false outside that range.
bool exact_id(PyObject* x, int32_t* v) {
  int overflow = 0;
  const long long value = PyLong_AsLongLongAndOverflow(x, &overflow);
  if (overflow != 0 || value < 0 || value > INT32_MAX) {
    return false;
  }
  *v = static_cast<int32_t>(value);
  return true;
}

// The value of an exact int stored in one digit and >= 0, read from the object itself, with no
// C API call, so that worker threads may run it (on one thread it costs what the call above
// costs: CPython has the same fast path for one digit); false for anything else, which then
// takes the exact path. A digit holds 30 bits (15 on builds configured so), below 2^31.
bool small_id(PyObject* x, int32_t* v) {
#if PY_VERSION_HEX >= 0x030C0000
  if (!PyUnstable_Long_IsCompact(reinterpret_cast<PyLongObject*>(x))) return false;
  const Py_ssize_t value = PyUnstable_Long_CompactValue(reinterpret_cast<PyLongObject*>(x));
  if (value < 0) return false;
  *v = static_cast<int32_t>(value);
  return true;
#elif PY_VERSION_HEX >= 0x030B0000
  // 3.11: the size is the signed number of digits; 0 is the int 0, 1 one non-negative digit.
  const Py_ssize_t size = Py_SIZE(x);
  if (size != 0 && size != 1) return false;
  *v = size == 0 ? 0 : static_cast<int32_t>(reinterpret_cast<PyLongObject*>(x)->ob_digit[0]);
  return true;
#else
  (void)x;
  (void)v;
  return false;
#endif
}

// Whether every item is an exact int in one non-negative digit, written to out[0..n). Reads the
// objects only (no reference count, no C API call), so worker threads may run it while the
// caller holds the GIL: no Python code runs meanwhile that could change or free them.
bool read_small_ids(PyObject* const* items, Py_ssize_t n, int32_t* out) {
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!PyLong_CheckExact(items[i]) || !small_id(items[i], &out[i])) return false;
  }
  return true;
}

// The exact path of one document (with the GIL): false at the first item that is not an exact
// int in [0, 2^31) (a bool, a float, a numpy scalar, a negative or too large int).
bool read_ids(PyObject* const* items, Py_ssize_t n, int32_t* out) {
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!PyLong_CheckExact(items[i])) return false;
    if (!small_id(items[i], &out[i]) && !exact_id(items[i], &out[i])) return false;
  }
  return true;
}

py::object flatten_id_lists(const py::list& seqs) {
  const Py_ssize_t n_docs = PyList_GET_SIZE(seqs.ptr());
  py::array_t<int64_t> offsets(n_docs + 1);
  int64_t* off = offsets.mutable_data();
  off[0] = 0;
  for (Py_ssize_t d = 0; d < n_docs; ++d) {
    PyObject** items = nullptr;
    Py_ssize_t len = 0;
    if (!items_of(PyList_GET_ITEM(seqs.ptr(), d), &items, &len)) return py::none();
    off[d + 1] = off[d] + len;
  }
  // The GIL is held throughout; still, the allocations below may run a garbage collection and
  // with it arbitrary finalizers, so each document is looked up and measured again after them.
  py::array_t<int32_t> tokens(off[n_docs]);
  int32_t* out = tokens.mutable_data();
  std::vector<PyObject**> doc_items(static_cast<size_t>(n_docs));
  std::vector<uint8_t> exact(static_cast<size_t>(n_docs), 0);  // 1: take the exact path
  for (Py_ssize_t d = 0; d < n_docs; ++d) {
    Py_ssize_t len = 0;
    if (d >= PyList_GET_SIZE(seqs.ptr()) ||
        !items_of(PyList_GET_ITEM(seqs.ptr(), d), &doc_items[d], &len) ||
        len != off[d + 1] - off[d]) {
      return py::none();
    }
  }
  // Reading the int objects costs what the memory holding them costs (one object per id, 32
  // bytes each, on top of the 8-byte pointer): threads overlap those reads.
#pragma omp parallel for schedule(dynamic, 16) if (off[n_docs] > (1 << 16))
  for (Py_ssize_t d = 0; d < n_docs; ++d) {
    const Py_ssize_t len = off[d + 1] - off[d];
    exact[d] = read_small_ids(doc_items[d], len, out + off[d]) ? 0 : 1;
  }
  for (Py_ssize_t d = 0; d < n_docs; ++d) {
    if (exact[d] && !read_ids(doc_items[d], off[d + 1] - off[d], out + off[d])) return py::none();
  }
  return py::make_tuple(tokens, offsets);
}

// int64 ids [n] narrowed to int32, or None when any is outside [0, 2^31): one pass over the ids
// on all threads (numpy's range check and narrowing copy are two passes on one thread).
py::object narrow_ids(const py::array_t<int64_t, py::array::c_style>& ids) {
  const int64_t n = ids.size();
  const int64_t* in = ids.data();
  py::array_t<int32_t> out(n);
  int32_t* o = out.mutable_data();
  // An id is in [0, 2^31) exactly when its bits 31..63 are clear: one OR over all of them.
  uint64_t bits = 0;
  {
    py::gil_scoped_release release;  // `ids` is this call's own reference: nothing frees it
#pragma omp parallel for reduction(| : bits) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) {
      bits |= static_cast<uint64_t>(in[i]);
      o[i] = static_cast<int32_t>(in[i]);
    }
  }
  if (bits >> 31 != 0) return py::none();
  return std::move(out);
}

// One document of flatten_id_arrays: its ids (int32 or int64) and their count.
struct IdArray {
  const void* data;
  int64_t n;
  bool wide;  // int64
};

// Document d of a list of arrays, if it is a 1-D C-contiguous native int32 or int64 array.
bool id_array(const py::list& seqs, Py_ssize_t d, IdArray* doc) {
  using Wide = py::array_t<int64_t, py::array::c_style>;
  using Narrow = py::array_t<int32_t, py::array::c_style>;
  if (d >= PyList_GET_SIZE(seqs.ptr())) return false;
  py::handle item = PyList_GET_ITEM(seqs.ptr(), d);
  doc->wide = py::isinstance<Wide>(item);
  if (!doc->wide && !py::isinstance<Narrow>(item)) return false;
  auto a = py::reinterpret_borrow<py::array>(item);
  if (a.ndim() != 1) return false;
  doc->data = a.data();
  doc->n = static_cast<int64_t>(a.shape(0));
  return true;
}

// (tokens int32, offsets int64) of a list of 1-D C-contiguous native int32 / int64 arrays, or
// None for any other list (another type or layout, an id outside [0, 2^31)): the documents are
// copied (and narrowed) on all threads, their ids checked in the same pass.
py::object flatten_id_arrays(const py::list& seqs) {
  const Py_ssize_t n_docs = PyList_GET_SIZE(seqs.ptr());
  std::vector<IdArray> docs(static_cast<size_t>(n_docs));
  py::array_t<int64_t> offsets(n_docs + 1);
  int64_t* off = offsets.mutable_data();
  off[0] = 0;
  for (Py_ssize_t d = 0; d < n_docs; ++d) {
    if (!id_array(seqs, d, &docs[d])) return py::none();
    off[d + 1] = off[d] + docs[d].n;
  }
  // The GIL is held throughout; still, the allocation below may run a garbage collection and
  // with it arbitrary finalizers, so each document is looked up and measured again after it.
  // Nothing in Python runs after that while the threads read the arrays.
  py::array_t<int32_t> tokens(off[n_docs]);
  int32_t* out = tokens.mutable_data();
  for (Py_ssize_t d = 0; d < n_docs; ++d) {
    if (!id_array(seqs, d, &docs[d]) || docs[d].n != off[d + 1] - off[d]) return py::none();
  }
  uint64_t bits = 0;  // as in narrow_ids: an id is valid exactly when bits 31..63 are clear
#pragma omp parallel for schedule(dynamic, 16) reduction(| : bits) if (off[n_docs] > (1 << 16))
  for (Py_ssize_t d = 0; d < n_docs; ++d) {
    int32_t* o = out + off[d];
    if (docs[d].wide) {
      const int64_t* in = static_cast<const int64_t*>(docs[d].data);
      for (int64_t i = 0; i < docs[d].n; ++i) {
        bits |= static_cast<uint64_t>(in[i]);
        o[i] = static_cast<int32_t>(in[i]);
      }
    } else {
      const int32_t* in = static_cast<const int32_t*>(docs[d].data);
      for (int64_t i = 0; i < docs[d].n; ++i) {
        bits |= static_cast<uint64_t>(static_cast<int64_t>(in[i]));
        o[i] = in[i];
      }
    }
  }
  if (bits >> 31 != 0) return py::none();
  return py::make_tuple(tokens, offsets);
}

}  // namespace

void register_inputs(py::module_& m) {
  m.def("flatten_id_lists", &flatten_id_lists, py::arg("seqs"),
        "(tokens int32, offsets int64) of a list of lists/tuples of ints in [0, 2^31), or None.");
  m.def("flatten_id_arrays", &flatten_id_arrays, py::arg("seqs"),
        "(tokens int32, offsets int64) of a list of 1-D C-contiguous int32/int64 arrays of ids in "
        "[0, 2^31), or None.");
  m.def("narrow_ids", &narrow_ids, py::arg("ids").noconvert(),
        "int64 ids (C-contiguous, native order) as int32 [n], or None if any is outside "
        "[0, 2^31).");
}

}  // namespace tokenmark::bind::host
