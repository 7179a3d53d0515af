// `_cuda` bindings of the SynthID-Text operations: device pointers in, validated, out to the
// launchers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "../cuda/synthid_cuda.h"
#include "cuda_checks.h"
#include "register.h"

namespace tokenmark::bind::device {
namespace {

void sample_synthid(uintptr_t logits, int64_t batch, int64_t n, int64_t logits_row_stride,
                    int dtype, uintptr_t cand, uintptr_t input_ids, bool ids_is_int64,
                    int64_t ids_len, int64_t ids_row_stride, uintptr_t keys, int64_t key_stride,
                    uintptr_t uniforms, uintptr_t enabled, int width, int seeding, int layers,
                    int64_t history, uintptr_t out, uintptr_t marked, uintptr_t workspace,
                    uint64_t workspace_bytes, int device, uintptr_t stream) {
  SynthIdSampleArgs a{};
  require_layers(layers);
  require_non_negative(history, "history");
  if (n > int64_t{65535} * 2048) fail_value("logits: at most 65535 * 2048 candidates per row");
  if (batch > INT32_MAX) fail_value("batch: at most 2^31 - 1 rows");
  if (!fill_rows(a, logits, batch, n, logits_row_stride, dtype, input_ids, ids_is_int64, ids_len,
                 ids_row_stride, keys, key_stride, enabled, width, seeding, device)) {
    return;
  }
  require_workspace(cuda::sample_synthid_workspace_bytes(batch, n, layers), workspace_bytes);
  if (workspace % 16 != 0) fail_value("workspace: device pointer not aligned to 16 bytes");
  a.uniforms = require_ptr<const double>(uniforms, "uniforms");
  a.layers = layers;
  a.history = history;
  a.out = require_ptr<int64_t>(out, "out");
  a.marked = require_ptr<uint8_t>(marked, "marked");
  const int32_t* candidates = cand ? require_ptr<const int32_t>(cand, "candidates") : nullptr;
  void* scratch = require_ptr<uint64_t>(workspace, "workspace");
  DeviceGuard guard(device, "sample_synthid");
  check_launch("sample_synthid",
               cuda::sample_synthid_cuda(a, candidates, scratch,
                                         static_cast<size_t>(workspace_bytes), to_stream(stream)));
}

size_t sample_synthid_workspace_bytes(int64_t batch, int64_t n, int layers) {
  require_non_negative(batch, "batch");
  require_non_negative(n, "n");
  return cuda::sample_synthid_workspace_bytes(batch, n > 0 ? n : 1, layers);
}

void score_synthid(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
                   uintptr_t prefix, std::array<uint64_t, 4> key, int width, int seeding,
                   int layers, bool dedup, uintptr_t n_scored, uintptr_t ones, uintptr_t counted,
                   uintptr_t workspace, uint64_t workspace_bytes, int device, uintptr_t stream) {
  SynthIdScoreArgs a{};
  require_layers(layers);
  if (!fill_docs<uint32_t>(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding, dedup,
                           n_scored, counted, workspace, workspace_bytes,
                           cuda::score_synthid_workspace_bytes, device)) {
    return;
  }
  a.ones = require_ptr<int64_t>(ones, "ones");
  a.layers = layers;
  DeviceGuard guard(device, "score_synthid");
  check_launch("score_synthid",
               cuda::score_synthid_cuda(a, reinterpret_cast<void*>(workspace),
                                        static_cast<size_t>(workspace_bytes), to_stream(stream)));
}

}  // namespace

void register_synthid(py::module_& m) {
  m.def("sample_synthid", &sample_synthid, py::arg("logits"), py::arg("batch"), py::arg("n"),
        py::arg("logits_row_stride"), py::arg("logits_dtype"), py::arg("candidates"),
        py::arg("input_ids"), py::arg("ids_is_int64"), py::arg("ids_len"),
        py::arg("ids_row_stride"), py::arg("keys"), py::arg("key_stride"), py::arg("uniforms"),
        py::arg("enabled"), py::arg("width"), py::arg("seeding"), py::arg("layers"),
        py::arg("history"), py::arg("out"), py::arg("marked"), py::arg("workspace"),
        py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"),
        "SynthID-Text tournament sampling of logits [batch, n] (device pointers) into out/marked.");
  m.def("sample_synthid_workspace_bytes", &sample_synthid_workspace_bytes, py::arg("batch"),
        py::arg("n"), py::arg("layers"), "Device scratch bytes sample_synthid needs.");
  m.def("score_synthid", &score_synthid, py::arg("tokens"), py::arg("n_tokens"), py::arg("offsets"),
        py::arg("n_docs"), py::arg("prefix"), py::arg("key"), py::arg("width"), py::arg("seeding"),
        py::arg("layers"), py::arg("dedup"), py::arg("n_scored"), py::arg("ones"),
        py::arg("counted"), py::arg("workspace"), py::arg("workspace_bytes"), py::arg("device"),
        py::arg("stream"));
  m.def("score_synthid_workspace_bytes", &doc_workspace_bytes<cuda::score_synthid_workspace_bytes>,
        py::arg("n_tokens"), py::arg("dedup"),
        "Device scratch bytes score_synthid needs (0 without dedup).");
}

}  // namespace tokenmark::bind::device
