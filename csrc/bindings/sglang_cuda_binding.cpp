// `_cuda` binding of the SGLang dialect's detector: device pointers in, validated, out to the
// launcher (csrc/cuda/sglang_cuda.h).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../cuda/sglang_cuda.h"
#include "cuda_checks.h"
#include "register.h"

namespace tokenmark::bind::device {
namespace {

template <int kKeys>
size_t sglang_workspace_bytes(int64_t n_tokens, bool) {
  return cuda::score_sglang_workspace_bytes(n_tokens, kKeys);
}

size_t score_sglang_workspace_bytes(int64_t n_tokens, int n_keys) {
  require_non_negative(n_tokens, "n_tokens");
  if (n_keys != 1 && n_keys != 2) fail_value("keys: expected 1 or 2 keys");
  return cuda::score_sglang_workspace_bytes(n_tokens, n_keys);
}

// The keys come as a list (one or two): they are secret and appear in no message.
void score_sglang(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
                  uintptr_t prefix, int context_width, int64_t max_contexts,
                  const std::vector<uint64_t>& keys, uint64_t threshold, uintptr_t n_scored,
                  uintptr_t n_key_a, uintptr_t sums, uintptr_t counted, uintptr_t workspace,
                  uint64_t workspace_bytes, int device, uintptr_t stream) {
  if (context_width < 1 || context_width > 64) {
    fail_value("context_width: must be in [1, 64], got " + std::to_string(context_width));
  }
  if (max_contexts < 1) fail_value("max_contexts: must be >= 1");
  if (keys.empty() || keys.size() > 2) fail_value("keys: expected 1 or 2 keys");
  if (threshold > 0xFFFFFFFFull) fail_value("threshold: must be below 2^32");
  if (n_tokens > INT32_MAX) fail_value("tokens: at most 2^31 - 1 tokens on CUDA");
  cuda::SglangScoreArgs a{};
  const int n_keys = static_cast<int>(keys.size());
  if (!fill_docs<double>(a, tokens, n_tokens, offsets, n_docs, prefix, {0, 0, 0, 0}, 0, 0, true,
                         n_scored, counted, workspace, workspace_bytes,
                         n_keys == 1 ? sglang_workspace_bytes<1> : sglang_workspace_bytes<2>,
                         device)) {
    return;
  }
  a.context_width = context_width;
  a.max_contexts = max_contexts;
  a.n_keys = n_keys;
  for (int k = 0; k < n_keys; ++k) a.keys[k] = keys[k];
  a.threshold = static_cast<uint32_t>(threshold);
  a.n_key_a = require_ptr<int64_t>(n_key_a, "n_key_a");
  a.sums = require_ptr<double>(sums, "sums");
  launch_scorer("score_sglang", cuda::score_sglang_cuda, a, workspace, workspace_bytes, device,
                stream);
}

}  // namespace

void register_sglang(py::module_& m) {
  m.def("score_sglang", &score_sglang, py::arg("tokens"), py::arg("n_tokens"), py::arg("offsets"),
        py::arg("n_docs"), py::arg("prefix"), py::arg("context_width"), py::arg("max_contexts"),
        py::arg("keys"), py::arg("threshold"), py::arg("n_scored"), py::arg("n_key_a"),
        py::arg("sums"), py::arg("counted"), py::arg("workspace"), py::arg("workspace_bytes"),
        py::arg("device"), py::arg("stream"),
        "SGLang's detector over ragged documents on a CUDA device (device pointers): n_scored, "
        "n_key_a [n_docs] int64, sums [n_docs, 5] float64, counted flags per token when "
        "`counted` is not 0.");
  m.def("score_sglang_workspace_bytes", &score_sglang_workspace_bytes, py::arg("n_tokens"),
        py::arg("n_keys"), "Device scratch bytes score_sglang needs.");
}

}  // namespace tokenmark::bind::device
