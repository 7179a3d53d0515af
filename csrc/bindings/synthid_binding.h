// Registers the SynthID-Text operations on the `_C` module.
#pragma once

#include <pybind11/pybind11.h>

namespace tokenmark::bind {

void register_synthid(pybind11::module_& m);

}  // namespace tokenmark::bind
