// fp16 <-> fp32 conversion of contiguous runs, with SIMD (F16C / AVX-512 / NEON through
// Highway) where available; the scalar path is exact too. fp32 -> fp16 rounds to nearest even
// (what coreml::Tensor::to does), so both paths give the same bits.
#pragma once

#include <cstdint>

#include "coreml/export.h"

// Internal (not installed), but exported: coreml::llm and coreml::hub call it from their own
// libraries.
COREML_PUBLIC_BEGIN

namespace coreml::kernels {

void f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_f16(const float* src, uint16_t* dst, int64_t n);

// The element-by-element versions (tests compare against them).
void f16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n);
void f32_to_f16_scalar(const float* src, uint16_t* dst, int64_t n);

}  // namespace coreml::kernels

COREML_PUBLIC_END
