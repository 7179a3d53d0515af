// `_cuda` bindings of the GINSEW operations: integer device pointers, sizes, a device index and a
// stream handle in, validated (cuda_checks.h), out to the launcher. The Python layer
// (backends/cuda/ginsew.py) checks the tensors, and ops/ginsew.py the host parameter values.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "../cuda/ginsew_cuda.h"
#include "cuda_checks.h"
#include "register.h"

namespace tokenmark::bind::device {
namespace {

void apply_ginsew(uintptr_t logits, int64_t batch, int64_t vocab, int64_t logits_row_stride,
                  int dtype, uintptr_t input_ids, bool ids_is_int64, int64_t ids_len,
                  int64_t ids_row_stride, uintptr_t keys, int64_t key_stride, uintptr_t thresholds,
                  int64_t threshold_stride, uintptr_t epsilons, int64_t epsilon_stride,
                  uintptr_t frequencies, int64_t frequency_stride, uintptr_t enabled, int width,
                  int position, int device, uintptr_t stream) {
  if (batch < 0 || vocab < 0 || ids_len < 0) fail_value("batch, vocab, ids_len: must be >= 0");
  if (width < 1 || width > 1024) fail_value("context_width: must be in [1, 1024]");
  if (position < -1) fail_value("position: must be -1 (the context) or >= 0");
  if (dtype != kFloat32 && dtype != kFloat16 && dtype != kBFloat16) {
    fail_value("logits_dtype: expected 0 (float32), 1 (float16) or 2 (bfloat16)");
  }
  require_stride(key_stride, "keys", 0, 4);
  require_stride(threshold_stride, "thresholds", 0, 1);
  require_stride(epsilon_stride, "epsilon", 0, 1);
  require_stride(frequency_stride, "frequency", 0, 1);
  if (batch > 1 && logits_row_stride < vocab) fail_value("logits: rows overlap");
  if (batch == 0 || vocab == 0) return;
  if (device < 0) fail_value("device: must be >= 0");
  GinsewArgs a{};
  a.dtype = static_cast<LogitsDtype>(dtype);
  a.logits = dtype == kFloat32 ? static_cast<void*>(require_ptr<float>(logits, "logits"))
                               : static_cast<void*>(require_ptr<uint16_t>(logits, "logits"));
  a.batch = batch;
  a.vocab = vocab;
  a.logits_row_stride = logits_row_stride;
  a.ids_is_int64 = ids_is_int64;
  a.ids_len = ids_len;
  a.ids_row_stride = ids_row_stride;
  if (ids_len > 0) {
    a.input_ids = ids_is_int64
                      ? static_cast<const void*>(require_ptr<int64_t>(input_ids, "input_ids"))
                      : static_cast<const void*>(require_ptr<int32_t>(input_ids, "input_ids"));
  }
  a.keys = require_ptr<const uint32_t>(keys, "keys");
  a.key_stride = key_stride;
  a.thresholds = require_ptr<const uint32_t>(thresholds, "thresholds");
  a.threshold_stride = threshold_stride;
  a.epsilons = require_ptr<const double>(epsilons, "epsilon");
  a.epsilon_stride = epsilon_stride;
  a.frequencies = require_ptr<const double>(frequencies, "frequency");
  a.frequency_stride = frequency_stride;
  a.enabled = enabled ? reinterpret_cast<const uint8_t*>(enabled) : nullptr;
  a.width = width;
  a.position = position;
  DeviceGuard guard(device, "apply_ginsew_");
  check_launch("apply_ginsew_", cuda::apply_ginsew_cuda(a, to_stream(stream)));
}

}  // namespace

void register_ginsew(py::module_& m) {
  m.def("apply_ginsew_", &apply_ginsew, py::arg("logits"), py::arg("batch"), py::arg("vocab"),
        py::arg("logits_row_stride"), py::arg("logits_dtype"), py::arg("input_ids"),
        py::arg("ids_is_int64"), py::arg("ids_len"), py::arg("ids_row_stride"), py::arg("keys"),
        py::arg("key_stride"), py::arg("thresholds"), py::arg("threshold_stride"),
        py::arg("epsilons"), py::arg("epsilon_stride"), py::arg("frequencies"),
        py::arg("frequency_stride"), py::arg("enabled"), py::arg("width"), py::arg("position"),
        py::arg("device"), py::arg("stream"));
}

}  // namespace tokenmark::bind::device
