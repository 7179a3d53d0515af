// The `_cuda` extension: integer device pointers, sizes, a device index and a stream handle in,
// validated, out to the CUDA launchers. No torch here: python/tokenmark/_cuda_ops.py checks the
// tensors and passes their data_ptr() and stream. cudart is linked statically, so this module
// imports on a machine without a driver; only the operations need a device.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../cuda/gumbel_cuda.h"
#include "../cuda/kgw_cuda.h"
#include "../cuda/synthid_cuda.h"
#include "checks.h"
#include "ginsew_cuda_binding.h"
#include "tokenmark/synthid.h"

namespace py = pybind11;
using namespace tokenmark;
using namespace tokenmark::bind;

namespace {

[[noreturn]] void fail_cuda(const char* op, cudaError_t err) {
  throw std::runtime_error(std::string("tokenmark CUDA ") + op + ": " + cudaGetErrorName(err) +
                           ": " + cudaGetErrorString(err));
}

void require_non_negative(int64_t v, const char* name) {
  if (v < 0) fail_value(std::string(name) + ": must be >= 0, got " + std::to_string(v));
}

// A device pointer the operation dereferences: not null, aligned for its element type.
template <typename T>
T* require_ptr(uintptr_t p, const char* name) {
  if (p == 0) fail_value(std::string(name) + ": null device pointer");
  if (p % alignof(T) != 0) {
    fail_value(std::string(name) + ": device pointer not aligned to " + std::to_string(alignof(T)) +
               " bytes");
  }
  return reinterpret_cast<T*>(p);
}

void require_stride(int64_t stride, const char* name, int64_t a, int64_t b) {
  if (stride != a && stride != b) {
    fail_value(std::string(name) + ": stride must be " + std::to_string(a) + " (broadcast) or " +
               std::to_string(b) + ", got " + std::to_string(stride));
  }
}

// Makes `device` current for the launch and restores the caller's device afterwards, so a
// launch on another device's tensors does not move the caller's current device.
class DeviceGuard {
 public:
  DeviceGuard(int device, const char* op) {
    cudaError_t err = cudaGetDevice(&previous_);
    if (err == cudaSuccess && previous_ != device) err = cudaSetDevice(device);
    if (err != cudaSuccess) {
      cudaGetLastError();
      fail_cuda(op, err);
    }
  }
  ~DeviceGuard() {
    int now = previous_;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

cudaStream_t to_stream(uintptr_t handle) { return reinterpret_cast<cudaStream_t>(handle); }

void apply_kgw_bias(uintptr_t logits, int64_t batch, int64_t vocab, int64_t logits_row_stride,
                    int dtype, uintptr_t input_ids, bool ids_is_int64, int64_t ids_len,
                    int64_t ids_row_stride, uintptr_t keys, int64_t key_stride,
                    uintptr_t thresholds, int64_t threshold_stride, uintptr_t deltas,
                    int64_t delta_stride, uintptr_t enabled, int width, int seeding, int device,
                    uintptr_t stream) {
  KgwBiasArgs a{};
  require_non_negative(batch, "batch");
  require_non_negative(vocab, "vocab");
  require_non_negative(ids_len, "ids_len");
  require_width_seeding(width, seeding);
  if (dtype != kFloat32 && dtype != kFloat16 && dtype != kBFloat16) {
    fail_value("logits_dtype: expected 0 (float32), 1 (float16) or 2 (bfloat16), got " +
               std::to_string(dtype));
  }
  require_stride(key_stride, "keys", 0, 4);
  require_stride(threshold_stride, "thresholds", 0, 1);
  require_stride(delta_stride, "deltas", 0, 1);
  if (batch > 1 && logits_row_stride < vocab) fail_value("logits: rows overlap");
  if (batch == 0 || vocab == 0) return;
  if (device < 0) fail_value("device: must be >= 0");
  a.dtype = static_cast<LogitsDtype>(dtype);
  a.logits = dtype == kFloat32 ? static_cast<void*>(require_ptr<float>(logits, "logits"))
                               : static_cast<void*>(require_ptr<uint16_t>(logits, "logits"));
  a.batch = batch;
  a.vocab = vocab;
  a.logits_row_stride = logits_row_stride;
  a.ids_is_int64 = ids_is_int64;
  a.ids_len = ids_len;
  a.ids_row_stride = ids_row_stride;
  // The ids are only read when a context of width > 0 fits into them.
  if (width > 0 && ids_len >= width) {
    a.input_ids = ids_is_int64
                      ? static_cast<const void*>(require_ptr<int64_t>(input_ids, "input_ids"))
                      : static_cast<const void*>(require_ptr<int32_t>(input_ids, "input_ids"));
  }
  a.keys = require_ptr<const uint32_t>(keys, "keys");
  a.key_stride = key_stride;
  a.thresholds = require_ptr<const uint32_t>(thresholds, "thresholds");
  a.threshold_stride = threshold_stride;
  a.deltas = require_ptr<const float>(deltas, "deltas");
  a.delta_stride = delta_stride;
  a.enabled = enabled ? reinterpret_cast<const uint8_t*>(enabled) : nullptr;
  a.width = width;
  a.seeding = seeding;
  DeviceGuard guard(device, "apply_kgw_bias_");
  const cudaError_t err = cuda::apply_kgw_bias_cuda(a, to_stream(stream));
  if (err != cudaSuccess) fail_cuda("apply_kgw_bias_", err);
}

// The ragged-document arguments every scoring op shares (tokens, offsets, prefix, key, context,
// dedup, per-document counts and per-token flags), validated. `bytes_for` gives the op's
// workspace size, `WorkT` the alignment its workspace needs. False when there is no document
// (nothing to launch).
template <typename WorkT, typename Args>
bool set_score_docs(Args& a, uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
                    uintptr_t prefix, const std::array<uint64_t, 4>& key, int width, int seeding,
                    bool dedup, uintptr_t n_scored, uintptr_t counted, uintptr_t workspace,
                    uint64_t workspace_bytes, size_t (*bytes_for)(int64_t, bool), int device) {
  require_non_negative(n_tokens, "n_tokens");
  require_non_negative(n_docs, "n_docs");
  require_width_seeding(width, seeding);
  for (const uint64_t w : key) {
    if (w > UINT32_MAX) fail_value("key: each of the 4 words must be in [0, 2^32)");
  }
  if (n_docs == 0 && n_tokens != 0) fail_value("offsets: the tokens belong to no document");
  if (dedup && n_tokens > INT32_MAX) fail_value("tokens: dedup supports at most 2^31 - 1 tokens");
  const size_t needed = bytes_for(n_tokens, dedup);
  if (workspace_bytes < needed) {
    fail_value("workspace: needs " + std::to_string(needed) + " bytes, got " +
               std::to_string(workspace_bytes));
  }
  if (n_docs == 0) return false;
  if (device < 0) fail_value("device: must be >= 0");
  a.offsets = require_ptr<const int64_t>(offsets, "offsets");
  a.n_docs = n_docs;
  a.n_scored = require_ptr<int64_t>(n_scored, "n_scored");
  a.prefix = prefix ? require_ptr<const int64_t>(prefix, "prefix_lengths") : nullptr;
  a.n_tokens = n_tokens;
  if (n_tokens > 0) {
    a.tokens = require_ptr<const int32_t>(tokens, "tokens");
    a.counted = reinterpret_cast<uint8_t*>(counted);
    if (needed > 0) require_ptr<WorkT>(workspace, "workspace");
  }
  for (int i = 0; i < 4; ++i) a.key[i] = static_cast<uint32_t>(key[i]);
  a.width = width;
  a.seeding = seeding;
  a.dedup = dedup;
  return true;
}

void score_kgw(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
               uintptr_t prefix, std::array<uint64_t, 4> key, uint64_t threshold, int width,
               int seeding, bool dedup, uintptr_t n_scored, uintptr_t n_green, uintptr_t green,
               uintptr_t counted, uintptr_t workspace, uint64_t workspace_bytes, int device,
               uintptr_t stream) {
  KgwScoreArgs a{};
  if (threshold == 0 || threshold > UINT32_MAX) fail_value("threshold: must be in [1, 2^32)");
  if (!set_score_docs<uint32_t>(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding,
                                dedup, n_scored, counted, workspace, workspace_bytes,
                                cuda::score_kgw_workspace_bytes, device)) {
    return;
  }
  a.n_green = require_ptr<int64_t>(n_green, "n_green");
  if (n_tokens > 0) a.green = reinterpret_cast<int8_t*>(green);
  a.threshold = static_cast<uint32_t>(threshold);
  DeviceGuard guard(device, "score_kgw");
  const cudaError_t err =
      cuda::score_kgw_cuda(a, reinterpret_cast<void*>(workspace),
                           static_cast<size_t>(workspace_bytes), to_stream(stream));
  if (err != cudaSuccess) fail_cuda("score_kgw", err);
}

size_t score_kgw_workspace_bytes(int64_t n_tokens, bool dedup) {
  require_non_negative(n_tokens, "n_tokens");
  return cuda::score_kgw_workspace_bytes(n_tokens, dedup);
}

// The per-row arguments every sampler shares (logits, ids, keys, enabled, context); false when
// the batch is empty (nothing to launch).
template <typename Args>
bool set_sample_rows(Args& a, uintptr_t logits, int64_t batch, int64_t vocab,
                     int64_t logits_row_stride, int dtype, uintptr_t input_ids, bool ids_is_int64,
                     int64_t ids_len, int64_t ids_row_stride, uintptr_t keys, int64_t key_stride,
                     uintptr_t enabled, int width, int seeding, int device) {
  require_non_negative(batch, "batch");
  require_non_negative(vocab, "vocab");
  require_non_negative(ids_len, "ids_len");
  require_width_seeding(width, seeding);
  if (dtype != kFloat32 && dtype != kFloat16 && dtype != kBFloat16) {
    fail_value("logits_dtype: expected 0 (float32), 1 (float16) or 2 (bfloat16), got " +
               std::to_string(dtype));
  }
  require_stride(key_stride, "keys", 0, 4);
  if (batch > 1 && logits_row_stride < vocab) fail_value("logits: rows overlap");
  if (batch > INT32_MAX) fail_value("batch: at most 2^31 - 1 rows");
  if (batch == 0) return false;
  if (device < 0) fail_value("device: must be >= 0");
  a.dtype = static_cast<LogitsDtype>(dtype);
  // Rows of an empty vocabulary are never read (every row has no finite logit).
  if (vocab > 0) {
    a.logits = dtype == kFloat32
                   ? static_cast<const void*>(require_ptr<float>(logits, "logits"))
                   : static_cast<const void*>(require_ptr<uint16_t>(logits, "logits"));
  }
  a.batch = batch;
  a.vocab = vocab;
  a.logits_row_stride = logits_row_stride;
  a.ids_is_int64 = ids_is_int64;
  a.ids_len = ids_len;
  a.ids_row_stride = ids_row_stride;
  // The ids are only read when a context of width > 0 fits into them.
  if (width > 0 && ids_len >= width) {
    a.input_ids = ids_is_int64
                      ? static_cast<const void*>(require_ptr<int64_t>(input_ids, "input_ids"))
                      : static_cast<const void*>(require_ptr<int32_t>(input_ids, "input_ids"));
  }
  a.keys = require_ptr<const uint32_t>(keys, "keys");
  a.key_stride = key_stride;
  a.enabled = enabled ? reinterpret_cast<const uint8_t*>(enabled) : nullptr;
  a.width = width;
  a.seeding = seeding;
  return true;
}

void sample_gumbel(uintptr_t logits, int64_t batch, int64_t vocab, int64_t logits_row_stride,
                   int dtype, uintptr_t input_ids, bool ids_is_int64, int64_t ids_len,
                   int64_t ids_row_stride, uintptr_t keys, int64_t key_stride, uintptr_t salts,
                   int64_t salt_stride, uintptr_t enabled, int width, int seeding,
                   bool skip_repeated, uintptr_t out, int device, uintptr_t stream) {
  GumbelSampleArgs a{};
  require_stride(salt_stride, "salts", 0, 1);
  if (!set_sample_rows(a, logits, batch, vocab, logits_row_stride, dtype, input_ids, ids_is_int64,
                       ids_len, ids_row_stride, keys, key_stride, enabled, width, seeding,
                       device)) {
    return;
  }
  a.salts = require_ptr<const uint32_t>(salts, "salts");
  a.salt_stride = salt_stride;
  a.skip_repeated = skip_repeated;
  a.out = require_ptr<int64_t>(out, "out");
  DeviceGuard guard(device, "sample_gumbel");
  const cudaError_t err = cuda::sample_gumbel_cuda(a, to_stream(stream));
  if (err != cudaSuccess) fail_cuda("sample_gumbel", err);
}

void sample_synthid(uintptr_t logits, int64_t batch, int64_t n, int64_t logits_row_stride,
                    int dtype, uintptr_t cand, uintptr_t input_ids, bool ids_is_int64,
                    int64_t ids_len, int64_t ids_row_stride, uintptr_t keys, int64_t key_stride,
                    uintptr_t uniforms, uintptr_t enabled, int width, int seeding, int layers,
                    int64_t history, uintptr_t out, uintptr_t marked, uintptr_t workspace,
                    uint64_t workspace_bytes, int device, uintptr_t stream) {
  SynthIdSampleArgs a{};
  if (layers < 1 || layers > kSynthIdMaxLayers) {
    fail_value("layers: must be in [1, 32], got " + std::to_string(layers));
  }
  require_non_negative(history, "history");
  if (n > int64_t{65535} * 2048) fail_value("logits: at most 65535 * 2048 candidates per row");
  if (!set_sample_rows(a, logits, batch, n, logits_row_stride, dtype, input_ids, ids_is_int64,
                       ids_len, ids_row_stride, keys, key_stride, enabled, width, seeding,
                       device)) {
    return;
  }
  const size_t needed = cuda::sample_synthid_workspace_bytes(batch, n, layers);
  if (workspace_bytes < needed) {
    fail_value("workspace: needs " + std::to_string(needed) + " bytes, got " +
               std::to_string(workspace_bytes));
  }
  if (workspace % 16 != 0) fail_value("workspace: device pointer not aligned to 16 bytes");
  a.uniforms = require_ptr<const double>(uniforms, "uniforms");
  a.layers = layers;
  a.history = history;
  a.out = require_ptr<int64_t>(out, "out");
  a.marked = require_ptr<uint8_t>(marked, "marked");
  const int32_t* candidates = cand ? require_ptr<const int32_t>(cand, "candidates") : nullptr;
  void* scratch = require_ptr<uint64_t>(workspace, "workspace");
  DeviceGuard guard(device, "sample_synthid");
  const cudaError_t err = cuda::sample_synthid_cuda(
      a, candidates, scratch, static_cast<size_t>(workspace_bytes), to_stream(stream));
  if (err != cudaSuccess) fail_cuda("sample_synthid", err);
}

size_t sample_synthid_workspace_bytes(int64_t batch, int64_t n, int layers) {
  require_non_negative(batch, "batch");
  require_non_negative(n, "n");
  return cuda::sample_synthid_workspace_bytes(batch, n > 0 ? n : 1, layers);
}

void score_gumbel(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
                  uintptr_t prefix, std::array<uint64_t, 4> key, uintptr_t salts,
                  int64_t salt_stride, int width, int seeding, bool dedup, uintptr_t n_scored,
                  uintptr_t score, uintptr_t counted, uintptr_t workspace, uint64_t workspace_bytes,
                  int device, uintptr_t stream) {
  GumbelScoreArgs a{};
  require_stride(salt_stride, "salts", 0, 1);
  if (!set_score_docs<double>(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding,
                              dedup, n_scored, counted, workspace, workspace_bytes,
                              cuda::score_gumbel_workspace_bytes, device)) {
    return;
  }
  a.score = require_ptr<double>(score, "score");
  a.salts = require_ptr<const uint32_t>(salts, "salts");
  a.salt_stride = salt_stride;
  DeviceGuard guard(device, "score_gumbel");
  const cudaError_t err =
      cuda::score_gumbel_cuda(a, reinterpret_cast<void*>(workspace),
                              static_cast<size_t>(workspace_bytes), to_stream(stream));
  if (err != cudaSuccess) fail_cuda("score_gumbel", err);
}

size_t score_gumbel_workspace_bytes(int64_t n_tokens, bool dedup) {
  require_non_negative(n_tokens, "n_tokens");
  return cuda::score_gumbel_workspace_bytes(n_tokens, dedup);
}

void score_synthid(uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
                   uintptr_t prefix, std::array<uint64_t, 4> key, int width, int seeding,
                   int layers, bool dedup, uintptr_t n_scored, uintptr_t ones, uintptr_t counted,
                   uintptr_t workspace, uint64_t workspace_bytes, int device, uintptr_t stream) {
  SynthIdScoreArgs a{};
  if (layers < 1 || layers > kSynthIdMaxLayers) {
    fail_value("layers: must be in [1, 32], got " + std::to_string(layers));
  }
  if (!set_score_docs<uint32_t>(a, tokens, n_tokens, offsets, n_docs, prefix, key, width, seeding,
                                dedup, n_scored, counted, workspace, workspace_bytes,
                                cuda::score_synthid_workspace_bytes, device)) {
    return;
  }
  a.ones = require_ptr<int64_t>(ones, "ones");
  a.layers = layers;
  DeviceGuard guard(device, "score_synthid");
  const cudaError_t err =
      cuda::score_synthid_cuda(a, reinterpret_cast<void*>(workspace),
                               static_cast<size_t>(workspace_bytes), to_stream(stream));
  if (err != cudaSuccess) fail_cuda("score_synthid", err);
}

size_t score_synthid_workspace_bytes(int64_t n_tokens, bool dedup) {
  require_non_negative(n_tokens, "n_tokens");
  return cuda::score_synthid_workspace_bytes(n_tokens, dedup);
}

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
      "handle; use tokenmark._cuda_ops for torch tensors.";
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
  m.def("score_kgw_workspace_bytes", &score_kgw_workspace_bytes, py::arg("n_tokens"),
        py::arg("dedup"), "Device scratch bytes score_kgw needs (0 without dedup).");
  m.def("sample_gumbel", &sample_gumbel, py::arg("logits"), py::arg("batch"), py::arg("vocab"),
        py::arg("logits_row_stride"), py::arg("logits_dtype"), py::arg("input_ids"),
        py::arg("ids_is_int64"), py::arg("ids_len"), py::arg("ids_row_stride"), py::arg("keys"),
        py::arg("key_stride"), py::arg("salts"), py::arg("salt_stride"), py::arg("enabled"),
        py::arg("width"), py::arg("seeding"), py::arg("skip_repeated"), py::arg("out"),
        py::arg("device"), py::arg("stream"));
  m.def("score_gumbel", &score_gumbel, py::arg("tokens"), py::arg("n_tokens"), py::arg("offsets"),
        py::arg("n_docs"), py::arg("prefix"), py::arg("key"), py::arg("salts"),
        py::arg("salt_stride"), py::arg("width"), py::arg("seeding"), py::arg("dedup"),
        py::arg("n_scored"), py::arg("score"), py::arg("counted"), py::arg("workspace"),
        py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"));
  m.def("score_gumbel_workspace_bytes", &score_gumbel_workspace_bytes, py::arg("n_tokens"),
        py::arg("dedup"), "Device scratch bytes score_gumbel needs.");
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
  m.def("score_synthid_workspace_bytes", &score_synthid_workspace_bytes, py::arg("n_tokens"),
        py::arg("dedup"), "Device scratch bytes score_synthid needs (0 without dedup).");
  register_ginsew_cuda(m);
  m.def("device_count", &device_count, "Number of CUDA devices; 0 without a driver or device.");
  m.def("info", &info, "Compiled CUDA architectures and runtime/driver versions.");
}
