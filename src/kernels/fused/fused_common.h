// Helpers shared by the fused kernels: float loads/stores of fp16/fp32 elements and the
// rounding of an intermediate result to the dtype its unfused op declared.
#pragma once

#include <string>

#include "coreml/dtype.h"
#include "mil/ir.h"
#include "tensor/half.h"

namespace coreml::kernels::fused {

inline float load_float(const void* base, DType dtype, int64_t index) {
  return dtype == DType::kFloat32 ? static_cast<const float*>(base)[index]
                                  : fp16_to_float(static_cast<const uint16_t*>(base)[index]);
}

inline void store_float(void* base, DType dtype, int64_t index, float v) {
  if (dtype == DType::kFloat32) {
    static_cast<float*>(base)[index] = v;
  } else {
    static_cast<uint16_t*>(base)[index] = float_to_fp16(v);
  }
}

// What an unfused op's fp32 result became when it was stored in `dtype`.
inline float round_to(float v, bool to_fp16) {
  return to_fp16 ? fp16_to_float(float_to_fp16(v)) : v;
}

// A string attribute naming a MIL dtype ("fp16"): true when it is fp16.
inline bool names_fp16(const mil::Operation& op, const char* attribute) {
  const auto it = op.attributes.find(attribute);
  return it != op.attributes.end() && !it->second.strings.empty() &&
         it->second.strings[0] == "fp16";
}

}  // namespace coreml::kernels::fused
