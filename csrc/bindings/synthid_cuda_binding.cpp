// `_cuda` bindings of the SynthID-Text operations: device pointers in, validated, out to the
// launchers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <string>
#include <tuple>

#include "../cuda/synthid_cuda.h"
#include "cuda_checks.h"
#include "register.h"

namespace tokenmark::bind::device {
namespace {

// The profiling stamps' shape: [launches, batch, max_chunks, stages, 2] (synthid_cuda.h).
using StageShape = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;  // a Python tuple
StageShape stage_shape(int64_t batch, int64_t n, int layers, int64_t top_k) {
  require_non_negative(batch, "batch");
  require_non_negative(n, "n");
  require_non_negative(top_k, "top_k");
  require_layers(layers);
  const cuda::SynthIdStageShape s = cuda::sample_synthid_stage_shape(batch, n, layers, top_k);
  return {s.launches, s.batch, s.max_chunks, cuda::kSynthIdStages, 2};
}

void sample_synthid(uintptr_t logits, int64_t batch, int64_t n, int64_t logits_row_stride,
                    int dtype, uintptr_t cand, uintptr_t input_ids, bool ids_is_int64,
                    int64_t ids_len, int64_t ids_row_stride, uintptr_t keys, int64_t key_stride,
                    uintptr_t uniforms, uintptr_t enabled, int width, int seeding, int layers,
                    int64_t history, int64_t top_k, uintptr_t out, uintptr_t marked,
                    uintptr_t workspace, uint64_t workspace_bytes, int device, uintptr_t stream,
                    int chunk, uintptr_t stage_times, uint64_t stage_times_bytes) {
  SynthIdSampleArgs a{};
  if (chunk != 0 && (chunk < cuda::kSynthIdMinChunk || chunk > cuda::kSynthIdMaxChunk ||
                     chunk % cuda::kSynthIdMinChunk != 0)) {
    fail_value("chunk: must be 0 (chosen per launch) or a multiple of 1024 up to 16384");
  }
  const int64_t per_block = chunk == 0 ? cuda::kSynthIdMaxChunk : chunk;
  require_layers(layers);
  require_non_negative(history, "history");
  require_non_negative(top_k, "top_k");
  const bool picked = top_k > 0 && top_k < n;
  if (picked && cand) fail_value("candidates: given with top_k > 0 (candidates picked twice)");
  if (picked && n > INT32_MAX) fail_value("logits: at most 2^31 - 1 logits per row with top_k");
  if ((picked ? top_k : n) > cuda::kSynthIdMaxChunks * per_block) {
    fail_value("logits: at most 65535 * chunk candidates per row (chunk up to 16384 when 0)");
  }
  if (batch > INT32_MAX) fail_value("batch: at most 2^31 - 1 rows");
  if (!fill_rows(a, logits, batch, n, logits_row_stride, dtype, input_ids, ids_is_int64, ids_len,
                 ids_row_stride, keys, key_stride, enabled, width, seeding, device)) {
    return;
  }
  require_workspace(cuda::sample_synthid_workspace_bytes(batch, n, layers, top_k), workspace_bytes);
  if (workspace % 16 != 0) fail_value("workspace: device pointer not aligned to 16 bytes");
  a.uniforms = require_ptr<const double>(uniforms, "uniforms");
  a.layers = layers;
  a.history = history;
  a.top_k = top_k;
  a.out = require_ptr<int64_t>(out, "out");
  a.marked = require_ptr<uint8_t>(marked, "marked");
  a.chunk = chunk;
  if (stage_times) {
    const size_t needed = cuda::sample_synthid_stage_shape(batch, n, layers, top_k).bytes();
    if (stage_times_bytes < needed) {
      fail_value("stage_times: needs " + std::to_string(needed) + " bytes, got " +
                 std::to_string(stage_times_bytes));
    }
    a.stage_times = require_ptr<uint64_t>(stage_times, "stage_times");
  }
  const int32_t* candidates = cand ? require_ptr<const int32_t>(cand, "candidates") : nullptr;
  void* scratch = require_ptr<uint64_t>(workspace, "workspace");
  DeviceGuard guard(device, "sample_synthid");
  check_launch("sample_synthid",
               cuda::sample_synthid_cuda(a, candidates, scratch,
                                         static_cast<size_t>(workspace_bytes), to_stream(stream)));
}

size_t sample_synthid_workspace_bytes(int64_t batch, int64_t n, int layers, int64_t top_k) {
  require_non_negative(batch, "batch");
  require_non_negative(n, "n");
  require_non_negative(top_k, "top_k");
  return cuda::sample_synthid_workspace_bytes(batch, n > 0 ? n : 1, layers, top_k);
}

size_t top_k_workspace_bytes(int64_t batch, int64_t vocab, int64_t k) {
  require_non_negative(batch, "batch");
  require_non_negative(vocab, "vocab");
  require_non_negative(k, "k");
  return cuda::top_k_workspace_bytes(batch, vocab, k);
}

void top_k_candidates(uintptr_t logits, int64_t batch, int64_t vocab, int64_t logits_row_stride,
                      int dtype, int64_t k, uintptr_t cand, uintptr_t values, uintptr_t workspace,
                      uint64_t workspace_bytes, int device, uintptr_t stream) {
  require_non_negative(batch, "batch");
  if (k <= 0 || k >= vocab) fail_value("k: must satisfy 0 < k < vocab");
  if (vocab > INT32_MAX) fail_value("vocab: at most 2^31 - 1");
  if (batch > INT32_MAX) fail_value("batch: at most 2^31 - 1 rows");
  if (dtype != kFloat32 && dtype != kFloat16 && dtype != kBFloat16) {
    fail_value("logits_dtype: expected 0 (float32), 1 (float16) or 2 (bfloat16), got " +
               std::to_string(dtype));
  }
  if (batch > 1 && logits_row_stride < vocab) fail_value("logits: rows overlap");
  if (batch == 0) return;
  if (device < 0) fail_value("device: must be >= 0");
  const void* x = dtype == kFloat32 ? static_cast<const void*>(require_ptr<float>(logits, "logits"))
                                    : require_ptr<uint16_t>(logits, "logits");
  int32_t* ids = require_ptr<int32_t>(cand, "candidates");
  float* out = require_ptr<float>(values, "values");
  const size_t needed = cuda::top_k_workspace_bytes(batch, vocab, k);
  require_workspace(needed, workspace_bytes);
  void* scratch = needed ? require_ptr<int32_t>(workspace, "workspace") : nullptr;
  DeviceGuard guard(device, "top_k_candidates");
  check_launch("top_k_candidates",
               cuda::top_k_candidates_cuda(x, batch, vocab, logits_row_stride,
                                           static_cast<LogitsDtype>(dtype), k, ids, out, scratch,
                                           needed, to_stream(stream)));
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
  launch_scorer("score_synthid", cuda::score_synthid_cuda, a, workspace, workspace_bytes, device,
                stream);
}

}  // namespace

void register_synthid(py::module_& m) {
  m.def("sample_synthid", &sample_synthid, py::arg("logits"), py::arg("batch"), py::arg("n"),
        py::arg("logits_row_stride"), py::arg("logits_dtype"), py::arg("candidates"),
        py::arg("input_ids"), py::arg("ids_is_int64"), py::arg("ids_len"),
        py::arg("ids_row_stride"), py::arg("keys"), py::arg("key_stride"), py::arg("uniforms"),
        py::arg("enabled"), py::arg("width"), py::arg("seeding"), py::arg("layers"),
        py::arg("history"), py::arg("top_k"), py::arg("out"), py::arg("marked"),
        py::arg("workspace"), py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"),
        py::arg("chunk") = 0, py::arg("stage_times") = 0, py::arg("stage_times_bytes") = 0,
        "SynthID-Text tournament sampling of logits [batch, n] (device pointers) into out/marked; "
        "with 0 < top_k < n on the top_k largest logits, picked on the device. chunk: candidates "
        "per block of a pass (0: the smallest that fills one wave of blocks; a multiple of 1024 "
        "up to 16384; the same tokens). stage_times (profiling; 0 in use): uint64 of "
        "sample_synthid_stage_shape, the stamps of each block's stages.");
  m.def("sample_synthid_stage_shape", &stage_shape, py::arg("batch"), py::arg("n"),
        py::arg("layers"), py::arg("top_k"),
        "Shape of sample_synthid's profiling stamps: [launches (setup, then each pass), batch, "
        "chunks (of 1024 candidates), stages (entry, prologue, candidates, counted in, tail), "
        "{global timer ns, SM clock}].");
  m.def("sample_synthid_workspace_bytes", &sample_synthid_workspace_bytes, py::arg("batch"),
        py::arg("n"), py::arg("layers"), py::arg("top_k"),
        "Device scratch bytes sample_synthid needs.");
  m.def("top_k_candidates", &top_k_candidates, py::arg("logits"), py::arg("batch"),
        py::arg("vocab"), py::arg("logits_row_stride"), py::arg("logits_dtype"), py::arg("k"),
        py::arg("candidates"), py::arg("values"), py::arg("workspace"), py::arg("workspace_bytes"),
        py::arg("device"), py::arg("stream"),
        "The k largest logits of each row as the spec picks them (0 < k < vocab): ids ascending "
        "into candidates [batch, k] int32, their logits into values [batch, k] float32; long "
        "rows are split over blocks in top_k_workspace_bytes of device scratch.");
  m.def("top_k_workspace_bytes", &top_k_workspace_bytes, py::arg("batch"), py::arg("vocab"),
        py::arg("k"), "Device scratch bytes top_k_candidates needs (0 when rows are not split).");
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
