// `_C.flatten_id_lists`: a list of token id lists (or tuples) of Python ints, flattened into the
// ragged form in one pass in C++, so that detect() on Python lists costs little more than the
// scoring itself. It only takes the plain case and answers None for anything else (another
// type, a bool, a float, an id outside [0, 2^31)); the caller then takes its per-document path,
// whose errors name the document.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

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
  // The GIL is held throughout; still, the allocation below may run a garbage collection and
  // with it arbitrary finalizers, so each document is looked up and measured again.
  py::array_t<int32_t> tokens(off[n_docs]);
  int32_t* out = tokens.mutable_data();
  for (Py_ssize_t d = 0; d < n_docs; ++d) {
    PyObject** items = nullptr;
    Py_ssize_t len = 0;
    if (d >= PyList_GET_SIZE(seqs.ptr()) ||
        !items_of(PyList_GET_ITEM(seqs.ptr(), d), &items, &len) || len != off[d + 1] - off[d]) {
      return py::none();
    }
    for (Py_ssize_t i = 0; i < len; ++i) {
      PyObject* x = items[i];
      if (!PyLong_CheckExact(x)) return py::none();  // bool, float, numpy scalar, ...
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
      if (overflow != 0 || v < 0 || v > INT32_MAX) return py::none();
      *out++ = static_cast<int32_t>(v);
    }
  }
  return py::make_tuple(tokens, offsets);
}

}  // namespace

void register_inputs(py::module_& m) {
  m.def("flatten_id_lists", &flatten_id_lists, py::arg("seqs"),
        "(tokens int32, offsets int64) of a list of lists/tuples of ints in [0, 2^31), or None.");
}

}  // namespace tokenmark::bind::host
