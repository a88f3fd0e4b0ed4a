// Highway SIMD loops for the hottest fp32 elementwise cases: contiguous add/sub/mul (second
// operand contiguous or a broadcast scalar) and sigmoid/silu. Dispatch picks the best target at run
// time; COREML_SIMD=0 in the environment (read once) forces the scalar loops everywhere.
#pragma once

#include <cstdint>
#include <optional>

#include "kernels/common/simd.h"

namespace coreml::kernels {

enum class SimdBinary { kAdd, kSub, kMul, kDiv, kMax, kMin };
// kGelu: x/2 (1 + erf(x / sqrt 2)) with erfc from Abramowitz & Stegun 7.1.26 (absolute error
// below 1.5e-7) and Highway's exp; kGeluTanh: the tanh approximation with Highway's tanh.
enum class SimdUnary { kSigmoid, kSilu, kGelu, kGeluTanh };

// out[i] = a[i] op b[i * b_step] for i < n, b_step 0 (scalar) or 1. kMax/kMin propagate
// NaN as NumPy does.
void simd_binary_f32(SimdBinary op, const float* a, const float* b, int64_t b_step, float* out,
                     int64_t n);

// out[i] = op(in[i]) for i < n; NaN stays NaN. kSigmoid and kSilu use a short exp of their own
// (within 3.5 ulp of the exact result; 0 where sigmoid is below fp32's normal range, x < -87.34).
void simd_unary_f32(SimdUnary op, const float* in, float* out, int64_t n);
// out[i] = fp16(f(in[i])) in one pass, for kSigmoid and kSilu where the target converts fp16 in
// hardware; false otherwise (the caller applies f, then converts).
bool simd_unary_f32_to_half(SimdUnary op, const float* in, uint16_t* out, int64_t n);

}  // namespace coreml::kernels
