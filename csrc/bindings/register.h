// Each scheme's operations, registered on one of the two extension modules: `host` on `_C`
// (numpy buffers; <scheme>_binding.cpp), `device` on `_cuda` (device pointers;
// <scheme>_cuda_binding.cpp). Each module links only its own set.
#pragma once

#include <pybind11/pybind11.h>

namespace tokenmark::bind {

namespace host {
void register_kgw(pybind11::module_& m);
void register_gumbel(pybind11::module_& m);
void register_synthid(pybind11::module_& m);
void register_ginsew(pybind11::module_& m);
void register_dialects(pybind11::module_& m);
void register_synthid_text(pybind11::module_& m);
void register_keys(pybind11::module_& m);
void register_inputs(pybind11::module_& m);
void register_steps(pybind11::module_& m);
void register_stats(pybind11::module_& m);
}  // namespace host

namespace device {
void register_kgw(pybind11::module_& m);
void register_gumbel(pybind11::module_& m);
void register_synthid(pybind11::module_& m);
void register_vllm(pybind11::module_& m);
void register_sglang(pybind11::module_& m);
void register_synthid_text(pybind11::module_& m);
void register_ginsew(pybind11::module_& m);
}  // namespace device

}  // namespace tokenmark::bind
