#include "cpu_features.h"

#include <atomic>

namespace tokenmark::cpu {
namespace {
std::atomic<bool> g_simd_on{true};
}

bool avx2_available() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

bool simd_enabled() { return g_simd_on.load(std::memory_order_relaxed) && avx2_available(); }

void set_simd_enabled(bool on) { g_simd_on.store(on, std::memory_order_relaxed); }

}  // namespace tokenmark::cpu
