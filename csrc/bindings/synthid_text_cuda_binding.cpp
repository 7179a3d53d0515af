// `_cuda` binding of the SynthID-Text dialect's detector counts: device pointers in, validated,
// out to the launcher (csrc/cuda/synthid_text_cuda.h).
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "../cuda/synthid_text_cuda.h"
#include "cuda_checks.h"
#include "register.h"

namespace tokenmark::bind::device {
namespace {

size_t score_synthid_text_workspace_bytes(int64_t n_tokens) {
  require_non_negative(n_tokens, "n_tokens");
  return cuda::score_synthid_text_workspace_bytes(n_tokens);
}

void score_synthid_text(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
                        uintptr_t prefix, int ngram_len, uintptr_t key_terms, int depth,
                        uintptr_t table, int64_t table_size, int64_t history, bool mask_repeated,
                        int64_t eos, uintptr_t n_scored, uintptr_t ones, uintptr_t counted,
                        uintptr_t workspace, uint64_t workspace_bytes, int device,
                        uintptr_t stream) {
  require_non_negative(n_tokens, "n_tokens");
  require_non_negative(n_docs, "n_docs");
  require_non_negative(history, "history");
  if (ngram_len < 1 || ngram_len > 1024) fail_value("ngram_len: must be in [1, 1024]");
  if (depth < 1 || depth > cuda::kSynthidTextMaxDepth) {
    fail_value("keys: 1 to " + std::to_string(cuda::kSynthidTextMaxDepth) + " keys on CUDA");
  }
  if (table_size < 1) fail_value("table: must not be empty");
  if (eos < -1) fail_value("eos: must be a token id or -1");
  if (n_tokens > INT32_MAX) fail_value("tokens: at most 2^31 - 1 tokens on CUDA");
  if (n_docs == 0 && n_tokens != 0) fail_value("offsets: the tokens belong to no document");
  const size_t needed = cuda::score_synthid_text_workspace_bytes(n_tokens);
  require_workspace(needed, workspace_bytes);
  if (n_docs == 0) return;
  if (device < 0) fail_value("device: must be >= 0");
  cuda::SynthidTextScoreArgs a{};
  a.offsets = require_ptr<const int64_t>(offsets, "offsets");
  a.n_docs = n_docs;
  a.n_tokens = n_tokens;
  if (n_tokens > 0) {
    a.tokens = require_ptr<const int32_t>(tokens, "tokens");
    a.counted = reinterpret_cast<uint8_t*>(counted);
  }
  a.prefix = prefix ? require_ptr<const int64_t>(prefix, "prefix_lengths") : nullptr;
  a.ngram_len = ngram_len;
  a.key_terms = require_ptr<const uint64_t>(key_terms, "key_terms");
  a.depth = depth;
  a.table = require_ptr<const uint8_t>(table, "table");
  a.table_size = table_size;
  a.history = history;
  a.mask_repeated = mask_repeated;
  a.eos = eos;
  a.n_scored = require_ptr<int64_t>(n_scored, "n_scored");
  a.ones = require_ptr<int64_t>(ones, "ones");
  if (needed > 0) require_ptr<uint64_t>(workspace, "workspace");
  launch_scorer("score_synthid_text", cuda::score_synthid_text_cuda, a, workspace, workspace_bytes,
                device, stream);
}

}  // namespace

void register_synthid_text(py::module_& m) {
  m.def("score_synthid_text", &score_synthid_text, py::arg("tokens"), py::arg("n_tokens"),
        py::arg("offsets"), py::arg("n_docs"), py::arg("prefix"), py::arg("ngram_len"),
        py::arg("key_terms"), py::arg("depth"), py::arg("table"), py::arg("table_size"),
        py::arg("history"), py::arg("mask_repeated"), py::arg("eos"), py::arg("n_scored"),
        py::arg("ones"), py::arg("counted"), py::arg("workspace"), py::arg("workspace_bytes"),
        py::arg("device"), py::arg("stream"),
        "SynthID-Text's detector counts over ragged documents on a CUDA device (device "
        "pointers): n_scored [n_docs] and ones [n_docs, depth] int64, counted flags per token "
        "when `counted` is not 0. key_terms: keys * 6364136223846793005 + 1 (uint64).");
  m.def("score_synthid_text_workspace_bytes", &score_synthid_text_workspace_bytes,
        py::arg("n_tokens"), "Device scratch bytes score_synthid_text needs.");
}

}  // namespace tokenmark::bind::device
