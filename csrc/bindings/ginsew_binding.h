// Registers the GINSEW operations on the `_C` module.
#pragma once

#include <pybind11/pybind11.h>

namespace tokenmark::bind {

void register_ginsew(pybind11::module_& m);

}  // namespace tokenmark::bind
