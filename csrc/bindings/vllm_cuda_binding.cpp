// `_cuda` binding of the vLLM dialect's detector: device pointers in, validated, out to the
// launcher (csrc/cuda/vllm_cuda.h).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../cuda/vllm_cuda.h"
#include "cuda_checks.h"
#include "register.h"

namespace tokenmark::bind::device {
namespace {

template <int kKeys>
size_t vllm_workspace_bytes(int64_t n_tokens, bool dedup) {
  return cuda::score_vllm_workspace_bytes(n_tokens, kKeys, dedup);
}

size_t score_vllm_workspace_bytes(int64_t n_tokens, int n_keys, bool dedup) {
  require_non_negative(n_tokens, "n_tokens");
  if (n_keys != 1 && n_keys != 2) fail_value("keys: expected 1 or 2 keys");
  return cuda::score_vllm_workspace_bytes(n_tokens, n_keys, dedup);
}

// Keys and weights come as lists (one or two): the keys are secret and appear in no message.
void score_vllm(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
                uintptr_t prefix, int context_width, const std::vector<uint64_t>& keys,
                const std::vector<double>& weights, bool dedup, uintptr_t n_scored, uintptr_t score,
                uintptr_t counted, uintptr_t workspace, uint64_t workspace_bytes, int device,
                uintptr_t stream) {
  if (context_width < 1 || context_width > 1024) {
    fail_value("context_width: must be in [1, 1024], got " + std::to_string(context_width));
  }
  if (keys.empty() || keys.size() > 2) fail_value("keys: expected 1 or 2 keys");
  if (weights.size() != keys.size()) fail_value("weights: expected one per key");
  for (const double w : weights) {
    if (!std::isfinite(w)) fail_value("weights: must be finite");
  }
  cuda::VllmScoreArgs a{};
  const int n_keys = static_cast<int>(keys.size());
  if (!fill_docs<double>(a, tokens, n_tokens, offsets, n_docs, prefix, {0, 0, 0, 0}, 0, 0, dedup,
                         n_scored, counted, workspace, workspace_bytes,
                         n_keys == 1 ? vllm_workspace_bytes<1> : vllm_workspace_bytes<2>, device)) {
    return;
  }
  a.context_width = context_width;
  a.n_keys = n_keys;
  for (int k = 0; k < n_keys; ++k) {
    a.keys[k] = keys[k];
    a.weights[k] = weights[k];
  }
  a.score = require_ptr<double>(score, "score");
  launch_scorer("score_vllm", cuda::score_vllm_cuda, a, workspace, workspace_bytes, device, stream);
}

}  // namespace

void register_vllm(py::module_& m) {
  m.def("score_vllm", &score_vllm, py::arg("tokens"), py::arg("n_tokens"), py::arg("offsets"),
        py::arg("n_docs"), py::arg("prefix"), py::arg("context_width"), py::arg("keys"),
        py::arg("weights"), py::arg("dedup"), py::arg("n_scored"), py::arg("score"),
        py::arg("counted"), py::arg("workspace"), py::arg("workspace_bytes"), py::arg("device"),
        py::arg("stream"),
        "vLLM's detector over ragged documents on a CUDA device (device pointers): n_scored and "
        "score per document, counted flags per token when `counted` is not 0.");
  m.def("score_vllm_workspace_bytes", &score_vllm_workspace_bytes, py::arg("n_tokens"),
        py::arg("n_keys"), py::arg("dedup"), "Device scratch bytes score_vllm needs.");
}

}  // namespace tokenmark::bind::device
