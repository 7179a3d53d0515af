// `_C.KGWStep`, `_C.GumbelStep`, `_C.SynthIDStep`: a logits processor's whole decode step on host
// memory, made once per processor and called once per step with the addresses of torch tensors.
//
// Why addresses: inside `generate` every code path a step touches for the first time since the
// model's forward pass runs with cold caches. Viewing a torch tensor as a numpy array and
// checking it as a `py::array` touches the numpy bridge and numpy's C API, about 20-30 us per
// step on the demo model (bench/bench_processors.py), several times the kernel. Here the scheme's
// parameters are checked once, in the constructor; the caller (tokenmark's transformers
// processors, through `tokenmark.backends.cpu`) checks per step what a numpy view would carry:
// CPU tensors, C-contiguous, logits float32 or float16 [batch, vocab], ids int64 [batch, len],
// both alive and not resized for the call. The step checks the ids' range itself, as the numpy
// bindings do. Not a public API: an address that breaks those conditions is undefined behaviour.
#include <pybind11/numpy.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../cpu/gumbel_cpu.h"
#include "../cpu/kgw_cpu.h"
#include "../cpu/one_hot.h"
#include "../cpu/synthid_cpu.h"
#include "checks.h"
#include "register.h"

namespace tokenmark::bind::host {
namespace {

// The parameters every step shares: one key for every row, the context rule.
struct StepBase {
  uint32_t key[4];
  int width;
  int seeding;

  StepBase(const py::array& words, int w, int s) : width(w), seeding(s) {
    key_words(words, key);
    require_width_seeding(w, s);
  }

  // RowArgs of one step. `reach`: how many trailing ids of each row the kernel reads as token
  // ids (their range is checked); the rest of a row is only compared.
  template <typename Args>
  void fill(Args& a, uintptr_t logits, bool half, int64_t batch, int64_t vocab, uintptr_t ids,
            int64_t len, int64_t reach) const {
    if (batch < 0 || vocab < 0 || len < 0) fail_value("step: negative shape");
    if (vocab > INT32_MAX) fail_value("logits: vocabulary wider than 2^31");
    if ((batch > 0 && vocab > 0 && logits == 0) || (batch > 0 && len > 0 && ids == 0))
      fail_value("step: null address");
    a.logits = reinterpret_cast<decltype(a.logits)>(logits);
    a.dtype = half ? kFloat16 : kFloat32;
    a.batch = batch;
    a.vocab = vocab;
    a.logits_row_stride = vocab;
    const auto* id_data = reinterpret_cast<const int64_t*>(ids);
    check_id_range(id_data, batch, len, len, std::max<int64_t>(0, len - reach));
    a.input_ids = id_data;
    a.ids_is_int64 = true;
    a.ids_len = len;
    a.ids_row_stride = len;
    a.keys = key;
    a.key_stride = 0;
    a.enabled = nullptr;
    a.width = width;
    a.seeding = seeding;
  }
};

struct KgwStep : StepBase {
  uint32_t threshold;
  float delta;

  KgwStep(const py::array& key, uint64_t thr, float d, int w, int s)
      : StepBase(key, w, s), threshold(static_cast<uint32_t>(thr)), delta(d) {
    if (thr == 0 || thr > UINT32_MAX) fail_value("threshold: must be in [1, 2^32)");
    if (!std::isfinite(d)) fail_value("delta: must be finite");
  }

  void operator()(uintptr_t logits, bool half, int64_t batch, int64_t vocab, uintptr_t ids,
                  int64_t len) const {
    KgwBiasArgs a{};
    fill(a, logits, half, batch, vocab, ids, len, width);
    a.thresholds = &threshold;
    a.threshold_stride = 0;
    a.deltas = &delta;
    a.delta_stride = 0;
    py::gil_scoped_release release;
    cpu::apply_kgw_bias_(a);
  }
};

// Each sampler writes its tokens to `out`, then every row with a token becomes one-hot at it;
// a row without a finite logit is an error and nothing is written.
template <typename Args>
void sample_one_hot_(Args& a, uintptr_t logits, void (*sample)(const Args&)) {
  std::vector<int64_t> out(static_cast<size_t>(a.batch));
  a.out = out.data();
  int64_t bad_row = -1;
  {
    py::gil_scoped_release release;
    sample(a);
    for (int64_t b = 0; b < a.batch && bad_row < 0; ++b) {
      if (out[b] == kNoFiniteLogit) bad_row = b;
    }
    if (bad_row < 0) {
      cpu::one_hot_rows_(reinterpret_cast<void*>(logits), a.dtype, a.batch, a.vocab,
                         a.logits_row_stride, a.out);
    }
  }
  if (bad_row >= 0) {
    fail_value("logits: row " + std::to_string(bad_row) + " has no finite entry to sample");
  }
}

struct GumbelStep : StepBase {
  std::vector<uint32_t> salts;  // one for every row, or one per row
  bool skip_repeated;

  GumbelStep(const py::array& key, const py::array& salts_, int w, int s, bool skip)
      : StepBase(key, w, s), skip_repeated(skip) {
    require_vector<uint32_t>(salts_, "salt", "uint32");
    if (salts_.shape(0) < 1) fail_value("salt: expected at least one salt");
    const auto* d = static_cast<const uint32_t*>(salts_.data());
    salts.assign(d, d + salts_.shape(0));
  }

  void operator()(uintptr_t logits, bool half, int64_t batch, int64_t vocab, uintptr_t ids,
                  int64_t len) const {
    const auto n = static_cast<int64_t>(salts.size());
    if (n != 1 && n != batch) {
      fail_value("salt: expected one salt, or one per row (" + std::to_string(batch) + "), got " +
                 std::to_string(n));
    }
    GumbelSampleArgs a{};
    // The repeated-context search hashes every id of the row; otherwise only the last `width`.
    fill(a, logits, half, batch, vocab, ids, len, skip_repeated ? INT64_MAX : width);
    a.salts = salts.data();
    a.salt_stride = n == 1 ? 0 : 1;
    a.skip_repeated = skip_repeated;
    sample_one_hot_(a, logits, cpu::sample_gumbel);
  }
};

struct SynthIdStep : StepBase {
  int layers;
  int64_t top_k, history, reach;

  SynthIdStep(const py::array& key, int w, int s, int layers_, int64_t top_k_, int64_t history_)
      : StepBase(key, w, s), layers(layers_), top_k(top_k_), history(history_) {
    reach = synthid_sample_reach(layers, top_k, history, width);
  }

  // `uniforms`: the address of `batch` float64 draws in [0, 1), one per row.
  void operator()(uintptr_t logits, bool half, int64_t batch, int64_t vocab, uintptr_t ids,
                  int64_t len, uintptr_t uniforms) const {
    SynthIdSampleArgs a{};
    fill(a, logits, half, batch, vocab, ids, len, reach);
    if (batch > 0 && uniforms == 0) fail_value("step: null address");
    a.uniforms = reinterpret_cast<const double*>(uniforms);
    require_unit_draws(a.uniforms, batch);
    a.layers = layers;
    a.top_k = top_k;
    a.history = history;
    std::vector<uint8_t> marked(static_cast<size_t>(batch));
    a.marked = marked.data();
    sample_one_hot_(a, logits, cpu::sample_synthid);
  }
};

}  // namespace

void register_steps(py::module_& m) {
  // The key stays inside the C++ object: the default repr shows no field.
  py::class_<KgwStep>(m, "KGWStep")
      .def(py::init<const py::array&, uint64_t, float, int, int>(), py::arg("key"),
           py::arg("threshold"), py::arg("delta"), py::arg("width"), py::arg("seeding"))
      .def("__call__", &KgwStep::operator(), py::arg("logits"), py::arg("half"), py::arg("batch"),
           py::arg("vocab"), py::arg("input_ids"), py::arg("ids_len"));
  py::class_<GumbelStep>(m, "GumbelStep")
      .def(py::init<const py::array&, const py::array&, int, int, bool>(), py::arg("key"),
           py::arg("salt"), py::arg("width"), py::arg("seeding"), py::arg("skip_repeated"))
      .def("__call__", &GumbelStep::operator(), py::arg("logits"), py::arg("half"),
           py::arg("batch"), py::arg("vocab"), py::arg("input_ids"), py::arg("ids_len"));
  py::class_<SynthIdStep>(m, "SynthIDStep")
      .def(py::init<const py::array&, int, int, int, int64_t, int64_t>(), py::arg("key"),
           py::arg("width"), py::arg("seeding"), py::arg("layers"), py::arg("top_k"),
           py::arg("history"))
      .def("__call__", &SynthIdStep::operator(), py::arg("logits"), py::arg("half"),
           py::arg("batch"), py::arg("vocab"), py::arg("input_ids"), py::arg("ids_len"),
           py::arg("uniforms"));
}

}  // namespace tokenmark::bind::host
