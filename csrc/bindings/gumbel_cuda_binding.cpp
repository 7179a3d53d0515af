// `_cuda` bindings of the Gumbel operations: device pointers in, validated, out to the
// launchers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "../cuda/gumbel_cuda.h"
#include "cuda_checks.h"
#include "register.h"

namespace tokenmark::bind::device {
namespace {

void sample_gumbel(uintptr_t logits, int64_t batch, int64_t vocab, int64_t logits_row_stride,
                   int dtype, uintptr_t input_ids, bool ids_is_int64, int64_t ids_len,
                   int64_t ids_row_stride, uintptr_t keys, int64_t key_stride, uintptr_t salts,
                   int64_t salt_stride, uintptr_t enabled, int width, int seeding,
                   bool skip_repeated, uintptr_t out, int device, uintptr_t stream, int64_t splits,
                   uintptr_t workspace, uint64_t workspace_bytes) {
  GumbelSampleArgs a{};
  require_stride(salt_stride, "salts", 0, 1);
  if (batch > INT32_MAX) fail_value("batch: at most 2^31 - 1 rows");
  require_non_negative(splits, "splits");
  if (!fill_rows(a, logits, batch, vocab, logits_row_stride, dtype, input_ids, ids_is_int64,
                 ids_len, ids_row_stride, keys, key_stride, enabled, width, seeding, device)) {
    return;
  }
  a.salts = require_ptr<const uint32_t>(salts, "salts");
  a.salt_stride = salt_stride;
  a.skip_repeated = skip_repeated;
  a.out = require_ptr<int64_t>(out, "out");
  // Split rows (splits != 1 and a long enough row) need the workspace.
  const size_t needed = splits == 1 ? 0 : cuda::sample_gumbel_workspace_bytes(batch, vocab);
  require_workspace(needed, workspace_bytes);
  void* scratch = nullptr;
  if (needed > 0) {
    if (workspace % 8 != 0) fail_value("workspace: device pointer not aligned to 8 bytes");
    scratch = require_ptr<double>(workspace, "workspace");
  }
  DeviceGuard guard(device, "sample_gumbel");
  check_launch("sample_gumbel",
               cuda::sample_gumbel_cuda(a, splits, scratch, static_cast<size_t>(workspace_bytes),
                                        to_stream(stream)));
}

size_t sample_gumbel_workspace_bytes(int64_t batch, int64_t vocab) {
  require_non_negative(batch, "batch");
  require_non_negative(vocab, "vocab");
  return cuda::sample_gumbel_workspace_bytes(batch, vocab);
}

void score_gumbel(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
                  uintptr_t prefix, std::array<uint64_t, 4> key, uintptr_t salts,
                  int64_t salt_stride, int width, int seeding, bool dedup, uintptr_t n_scored,
                  uintptr_t score, uintptr_t counted, uintptr_t workspace, uint64_t workspace_bytes,
                  int device, uintptr_t stream) {
  GumbelScoreArgs a{};
  require_stride(salt_stride, "salts", 0, 1);
  if (!fill_docs<double>(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding, dedup,
                         n_scored, counted, workspace, workspace_bytes,
                         cuda::score_gumbel_workspace_bytes, device)) {
    return;
  }
  a.score = require_ptr<double>(score, "score");
  a.salts = require_ptr<const uint32_t>(salts, "salts");
  a.salt_stride = salt_stride;
  launch_scorer("score_gumbel", cuda::score_gumbel_cuda, a, workspace, workspace_bytes, device,
                stream);
}

}  // namespace

void register_gumbel(py::module_& m) {
  m.def("sample_gumbel", &sample_gumbel, py::arg("logits"), py::arg("batch"), py::arg("vocab"),
        py::arg("logits_row_stride"), py::arg("logits_dtype"), py::arg("input_ids"),
        py::arg("ids_is_int64"), py::arg("ids_len"), py::arg("ids_row_stride"), py::arg("keys"),
        py::arg("key_stride"), py::arg("salts"), py::arg("salt_stride"), py::arg("enabled"),
        py::arg("width"), py::arg("seeding"), py::arg("skip_repeated"), py::arg("out"),
        py::arg("device"), py::arg("stream"), py::arg("splits"), py::arg("workspace"),
        py::arg("workspace_bytes"));
  m.def("sample_gumbel_workspace_bytes", &sample_gumbel_workspace_bytes, py::arg("batch"),
        py::arg("vocab"), "Device scratch bytes sample_gumbel may need to split rows.");
  m.def("score_gumbel", &score_gumbel, py::arg("tokens"), py::arg("n_tokens"), py::arg("offsets"),
        py::arg("n_docs"), py::arg("prefix"), py::arg("key"), py::arg("salts"),
        py::arg("salt_stride"), py::arg("width"), py::arg("seeding"), py::arg("dedup"),
        py::arg("n_scored"), py::arg("score"), py::arg("counted"), py::arg("workspace"),
        py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"));
  m.def("score_gumbel_workspace_bytes", &doc_workspace_bytes<cuda::score_gumbel_workspace_bytes>,
        py::arg("n_tokens"), py::arg("dedup"), "Device scratch bytes score_gumbel needs.");
}

}  // namespace tokenmark::bind::device
