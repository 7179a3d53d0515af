// Run-time choice of the CPU code path: the wheel is built for baseline x86-64 (no -march), and
// the AVX2 paths run only where the CPU has AVX2, FMA and F16C.
#pragma once

namespace tokenmark::cpu {

bool avx2_available();
// Tests switch the SIMD paths off to check the scalar paths against the same reference.
bool simd_enabled();
void set_simd_enabled(bool on);

}  // namespace tokenmark::cpu
