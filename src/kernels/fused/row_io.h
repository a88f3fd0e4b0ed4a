// Row loads and stores of the fused kernels: fp16/fp32 elements with any stride, converted
// with SIMD when the row is dense, and the "round to fp16 and back" of an intermediate.
#pragma once

#include <cstdint>

#include "kernels/common/convert_simd.h"
#include "kernels/fused/fused_common.h"

namespace coreml::kernels::fused {

// n elements of `base` (dtype) from element `first`, `stride` apart, as fp32 into `out`.
inline void load_row(const void* base, DType dtype, int64_t first, int64_t stride, int64_t n,
                     float* out) {
  if (stride == 1 && dtype == DType::kFloat16) {
    f16_to_f32(static_cast<const uint16_t*>(base) + first, out, n);
  } else if (stride == 1) {
    const float* p = static_cast<const float*>(base) + first;
    for (int64_t i = 0; i < n; ++i) out[i] = p[i];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = load_float(base, dtype, first + i * stride);
  }
}

// n fp32 values into dense `base` (dtype) from element `first`.
inline void store_row(const float* values, void* base, DType dtype, int64_t first, int64_t n) {
  if (dtype == DType::kFloat16) {
    f32_to_f16(values, static_cast<uint16_t*>(base) + first, n);
  } else {
    float* p = static_cast<float*>(base) + first;
    for (int64_t i = 0; i < n; ++i) p[i] = values[i];
  }
}

// values[i] = what values[i] becomes stored as fp16 and read back (`half` is n uint16 scratch).
inline void round_row_to_fp16(float* values, uint16_t* half, int64_t n) {
  f32_to_f16(values, half, n);
  f16_to_f32(half, values, n);
}

}  // namespace coreml::kernels::fused
