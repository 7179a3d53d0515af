// Temporary: replaced by the CUDA kernels' bindings.
#include <pybind11/pybind11.h>
PYBIND11_MODULE(_cuda, m) {}
