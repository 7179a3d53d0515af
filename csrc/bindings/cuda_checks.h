// Argument checks of the `_cuda` bindings: device pointers arrive as integers, with their sizes,
// a device index and a stream handle. Each failure raises a Python ValueError (or RuntimeError
// for a CUDA error) that names the argument, never the values of secret ones.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "checks.h"
#include "tokenmark/common_params.h"

namespace tokenmark::bind::device {

[[noreturn]] inline void fail_cuda(const char* op, cudaError_t err) {
  throw std::runtime_error(std::string("tokenmark CUDA ") + op + ": " + cudaGetErrorName(err) +
                           ": " + cudaGetErrorString(err));
}

inline void check_launch(const char* op, cudaError_t err) {
  if (err != cudaSuccess) fail_cuda(op, err);
}

inline void require_non_negative(int64_t v, const char* name) {
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

inline void require_stride(int64_t stride, const char* name, int64_t a, int64_t b) {
  if (stride != a && stride != b) {
    fail_value(std::string(name) + ": stride must be " + std::to_string(a) + " (broadcast) or " +
               std::to_string(b) + ", got " + std::to_string(stride));
  }
}

inline void require_workspace(size_t needed, uint64_t workspace_bytes) {
  if (workspace_bytes < needed) {
    fail_value("workspace: needs " + std::to_string(needed) + " bytes, got " +
               std::to_string(workspace_bytes));
  }
}

// A scorer's workspace size query (`bytes_for`: its launcher's), with n_tokens checked.
template <size_t (*bytes_for)(int64_t, bool)>
size_t doc_workspace_bytes(int64_t n_tokens, bool dedup) {
  require_non_negative(n_tokens, "n_tokens");
  return bytes_for(n_tokens, dedup);
}

inline cudaStream_t to_stream(uintptr_t handle) { return reinterpret_cast<cudaStream_t>(handle); }

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

// Launches the ragged scorer `launch(a, workspace, workspace_bytes, stream)` on `device` (after
// fill_docs checked the workspace), turning a CUDA error into a Python one naming `op`.
template <typename Args>
void launch_scorer(const char* op, cudaError_t (*launch)(const Args&, void*, size_t, cudaStream_t),
                   const Args& a, uintptr_t workspace, uint64_t workspace_bytes, int device,
                   uintptr_t stream) {
  DeviceGuard guard(device, op);
  check_launch(op, launch(a, reinterpret_cast<void*>(workspace),
                          static_cast<size_t>(workspace_bytes), to_stream(stream)));
}

// Validates the arguments every logits-row operation shares (logits, ids, keys, enabled,
// context) and points `a` at them; false when the batch is empty (nothing to launch).
template <typename LogitsT>
bool fill_rows(RowArgs<LogitsT>& a, uintptr_t logits, int64_t batch, int64_t vocab,
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
  if (batch == 0) return false;
  if (device < 0) fail_value("device: must be >= 0");
  a.dtype = static_cast<LogitsDtype>(dtype);
  // Rows of an empty vocabulary are never read (every row has no finite logit).
  if (vocab > 0) {
    a.logits = dtype == kFloat32 ? static_cast<LogitsT*>(require_ptr<float>(logits, "logits"))
                                 : static_cast<LogitsT*>(require_ptr<uint16_t>(logits, "logits"));
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

// Validates the ragged-document arguments every scoring op shares (tokens, offsets, prefix,
// key, context, dedup, per-document counts and per-token flags) and points `a` at them.
// `bytes_for` gives the op's workspace size, `WorkT` the alignment its workspace needs. False
// when there is no document (nothing to launch). Offsets, prefix and token values live on the
// device and are not read here: the Python layer checks them, and the kernels clamp any prefix
// to its document's length (common_params.h, scored_begin).
template <typename WorkT>
bool fill_docs(DocArgs& a, uintptr_t tokens, int64_t n_tokens, uintptr_t offsets, int64_t n_docs,
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
  require_workspace(needed, workspace_bytes);
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

}  // namespace tokenmark::bind::device
