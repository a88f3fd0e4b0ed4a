// Whole-plane loops of the squeeze-excite kernel over fp32 or fp16 data, fp16 converted in
// registers (no separate conversion pass): the fp32 sum of a plane, and a plane times a scalar
// rounded once to the output dtype. Highway picks the target at run time; COREML_SIMD=0 runs
// the scalar loops (the sums then add in another order; the scaling gives the same bits).
#pragma once

#include <cstdint>

namespace coreml::kernels {

// sum of x[0, n) in fp32; x is fp16 when `half`.
float plane_sum(const void* x, bool half, int64_t n);

// out[i] = round(x[i] * scale) for i < n, x fp16 when `in_half`, out fp16 when `out_half`
// (round to nearest even). out may be x (same dtype).
void plane_scale(const void* x, bool in_half, float scale, void* out, bool out_half, int64_t n);

// sum over i < n of a[i] * b[i] in fp32.
float dot_f32(const float* a, const float* b, int64_t n);
// The same with `a` fp16 bits, widened in registers: the bits dot_f32 gives on a's widened values
// (the same sums in the same order).
float dot_f16(const uint16_t* a, const float* b, int64_t n);

}  // namespace coreml::kernels
