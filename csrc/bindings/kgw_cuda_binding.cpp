// `_cuda` bindings of the KGW operations: device pointers in, validated, out to the launchers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "../cuda/kgw_cuda.h"
#include "cuda_checks.h"
#include "register.h"

namespace tokenmark::bind::device {
namespace {

void apply_kgw_bias(uintptr_t logits, int64_t batch, int64_t vocab, int64_t logits_row_stride,
                    int dtype, uintptr_t input_ids, bool ids_is_int64, int64_t ids_len,
                    int64_t ids_row_stride, uintptr_t keys, int64_t key_stride,
                    uintptr_t thresholds, int64_t threshold_stride, uintptr_t deltas,
                    int64_t delta_stride, uintptr_t enabled, int width, int seeding, int device,
                    uintptr_t stream) {
  KgwBiasArgs a{};
  require_stride(threshold_stride, "thresholds", 0, 1);
  require_stride(delta_stride, "deltas", 0, 1);
  if (!fill_rows(a, logits, batch, vocab, logits_row_stride, dtype, input_ids, ids_is_int64,
                 ids_len, ids_row_stride, keys, key_stride, enabled, width, seeding, device) ||
      vocab == 0) {
    return;
  }
  a.thresholds = require_ptr<const uint32_t>(thresholds, "thresholds");
  a.threshold_stride = threshold_stride;
  a.deltas = require_ptr<const float>(deltas, "deltas");
  a.delta_stride = delta_stride;
  DeviceGuard guard(device, "apply_kgw_bias_");
  check_launch("apply_kgw_bias_", cuda::apply_kgw_bias_cuda(a, to_stream(stream)));
}

void score_kgw(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
               uintptr_t prefix, std::array<uint64_t, 4> key, uint64_t threshold, int width,
               int seeding, bool dedup, uintptr_t n_scored, uintptr_t n_green, uintptr_t green,
               uintptr_t counted, uintptr_t workspace, uint64_t workspace_bytes, int device,
               uintptr_t stream) {
  KgwScoreArgs a{};
  if (threshold == 0 || threshold > UINT32_MAX) fail_value("threshold: must be in [1, 2^32)");
  if (!fill_docs<uint32_t>(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding, dedup,
                           n_scored, counted, workspace, workspace_bytes,
                           cuda::score_kgw_workspace_bytes, device)) {
    return;
  }
  a.n_green = require_ptr<int64_t>(n_green, "n_green");
  if (n_tokens > 0) a.green = reinterpret_cast<int8_t*>(green);
  a.threshold = static_cast<uint32_t>(threshold);
  launch_scorer("score_kgw", cuda::score_kgw_cuda, a, workspace, workspace_bytes, device, stream);
}

}  // namespace

void register_kgw(py::module_& m) {
  m.def("apply_kgw_bias_", &apply_kgw_bias, py::arg("logits"), py::arg("batch"), py::arg("vocab"),
        py::arg("logits_row_stride"), py::arg("logits_dtype"), py::arg("input_ids"),
        py::arg("ids_is_int64"), py::arg("ids_len"), py::arg("ids_row_stride"), py::arg("keys"),
        py::arg("key_stride"), py::arg("thresholds"), py::arg("threshold_stride"),
        py::arg("deltas"), py::arg("delta_stride"), py::arg("enabled"), py::arg("width"),
        py::arg("seeding"), py::arg("device"), py::arg("stream"));
  m.def("score_kgw", &score_kgw, py::arg("tokens"), py::arg("n_tokens"), py::arg("offsets"),
        py::arg("n_docs"), py::arg("prefix"), py::arg("key"), py::arg("threshold"),
        py::arg("width"), py::arg("seeding"), py::arg("dedup"), py::arg("n_scored"),
        py::arg("n_green"), py::arg("green"), py::arg("counted"), py::arg("workspace"),
        py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"));
  m.def("score_kgw_workspace_bytes", &doc_workspace_bytes<cuda::score_kgw_workspace_bytes>,
        py::arg("n_tokens"), py::arg("dedup"),
        "Device scratch bytes score_kgw needs (0 without dedup).");
}

}  // namespace tokenmark::bind::device
