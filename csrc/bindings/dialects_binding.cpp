// `_C` bindings of the dialects' helpers: torch's CPU randperm and the KGW green lists drawn from
// it (transformers, TGI). Seeds are not secret words of ours but may be derived from a user's
// hashing key: no message below prints one.
#include "dialects_binding.h"

#include <pybind11/numpy.h>

#include <string>

#include "../cpu/mt19937.h"
#include "checks.h"

namespace tokenmark::bind {
namespace {

void require_n(int64_t n, const char* name, int64_t lo) {
  if (n < lo || n >= cpu::kRandpermMaxN) {
    fail_value(std::string(name) + ": must be in [" + std::to_string(lo) + ", " +
               std::to_string(cpu::kRandpermMaxN) + ") (torch's CPU randperm), got " +
               std::to_string(n));
  }
}

py::array_t<int64_t> torch_cpu_randperm(uint64_t seed, int64_t n) {
  require_n(n, "n", 0);
  py::array_t<int64_t> out(n);
  int64_t* data = out.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::torch_cpu_randperm(static_cast<uint32_t>(seed), n, data);
  }
  return out;
}

py::array_t<uint8_t> torch_cpu_green_lists(py::array seeds, int64_t vocab, int64_t green_size) {
  require_dtype<uint32_t>(seeds, "seeds", "uint32");
  require_ndim(seeds, "seeds", 1);
  require_c_contiguous(seeds, "seeds");
  require_n(vocab, "vocab", 1);
  if (green_size < 0 || green_size > vocab) fail_value("green_size: must be in [0, vocab]");
  const int64_t n_seeds = seeds.shape(0);
  const int64_t row_bytes = (vocab + 7) / 8;
  py::array_t<uint8_t> bits({n_seeds, row_bytes});
  const auto* s = static_cast<const uint32_t*>(seeds.data());
  uint8_t* out = bits.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::torch_cpu_green_lists(s, n_seeds, vocab, green_size, out);
  }
  return bits;
}

}  // namespace

void register_dialects(py::module_& m) {
  m.def("torch_cpu_randperm", &torch_cpu_randperm, py::arg("seed"), py::arg("n"),
        "torch.randperm(n) after torch.Generator().manual_seed(seed) (low 32 bits), int64.");
  m.def("torch_cpu_green_lists", &torch_cpu_green_lists, py::arg("seeds"), py::arg("vocab"),
        py::arg("green_size"),
        "Per uint32 seed, randperm(vocab)[:green_size] as a little-endian bitset [n, ceil(v/8)].");
}

}  // namespace tokenmark::bind
