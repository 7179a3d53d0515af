// The `_cuda` extension: integer device pointers, sizes, a device index and a stream handle in,
// validated (cuda_checks.h), out to the CUDA launchers; one binding file per scheme. No torch
// here: the Python layer checks the tensors and passes their data_ptr() and stream. cudart is
// linked statically, so this module imports on a machine without a driver; only the operations
// need a device.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <string>

#include "register.h"

namespace py = pybind11;
using namespace tokenmark;

namespace {

// 0 on a machine without a driver or device: the error is cleared, never raised.
int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

py::dict info() {
  py::dict d;
  d["archs"] = std::string(TOKENMARK_CUDA_ARCHS);
  d["cuda_runtime_build_version"] = CUDART_VERSION;
  int runtime = 0, driver = 0;
  d["cuda_runtime_version"] = cudaRuntimeGetVersion(&runtime) == cudaSuccess ? runtime : 0;
  // 0 where no driver is installed.
  d["cuda_driver_version"] = cudaDriverGetVersion(&driver) == cudaSuccess ? driver : 0;
  d["device_count"] = device_count();
  return d;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() =
      "tokenmark CUDA kernels. Raw device pointers (ints), sizes, a device index and a stream "
      "handle; the Python backends wrap them for torch tensors.";
  bind::device::register_kgw(m);
  bind::device::register_gumbel(m);
  bind::device::register_synthid(m);
  bind::device::register_ginsew(m);
  bind::device::register_vllm(m);
  bind::device::register_sglang(m);
  bind::device::register_synthid_text(m);
  m.def("device_count", &device_count, "Number of CUDA devices; 0 without a driver or device.");
  m.def("info", &info, "Compiled CUDA architectures and runtime/driver versions.");
}
