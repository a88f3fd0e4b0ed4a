// Highway SIMD loops for the hottest fp32 elementwise cases (contiguous add/sub/mul, with the
// second operand contiguous or a broadcast scalar). Dispatch picks the best target at run time;
// COREML_SIMD=0 in the environment (read once) forces the scalar loops everywhere.
#pragma once

#include <cstdint>
#include <optional>

namespace coreml::kernels {

enum class SimdBinary { kAdd, kSub, kMul };

// Whether the SIMD paths are in use (COREML_SIMD != "0", unless a test overrides it;
// nullopt returns to the environment's choice).
bool simd_enabled();
void set_simd_enabled_for_testing(std::optional<bool> enabled);

// out[i] = a[i] op b[i * b_step] for i < n, b_step 0 (scalar) or 1.
void simd_binary_f32(SimdBinary op, const float* a, const float* b, int64_t b_step, float* out,
                     int64_t n);

}  // namespace coreml::kernels
