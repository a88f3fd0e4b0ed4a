// One element of an fp32 or fp16 buffer as fp32, and back (fp16 rounded to nearest even): the
// scalar twins of the SIMD loops that take either dtype (plane_simd.cpp, max_pool_simd.cpp).
#pragma once

#include <cstdint>

#include "tensor/half.h"

namespace coreml::kernels {

inline float load_float(const void* x, bool half, int64_t i) {
  return half ? fp16_to_float(static_cast<const uint16_t*>(x)[i]) : static_cast<const float*>(x)[i];
}

inline void store_float(void* out, bool half, int64_t i, float v) {
  if (half) {
    static_cast<uint16_t*>(out)[i] = float_to_fp16(v);
  } else {
    static_cast<float*>(out)[i] = v;
  }
}

}  // namespace coreml::kernels
