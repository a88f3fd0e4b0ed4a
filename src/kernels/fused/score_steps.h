// The elementwise steps between attention's two products, in one pass over a row of scores kept
// in registers: each unfused op's fp32 result rounded to the fp16 its op declared (when it did)
// and read back, without writing the halves to memory and reading them again.
#pragma once

#include <cstdint>

namespace coreml::kernels::fused {

// v[i] = r2(r1(v[i]) * scale): r1 when round_product, the scale when has_scale, r2 when
// round_scaled (r: round to fp16 and back, as round_to()).
void score_steps(float* v, int64_t n, bool round_product, bool has_scale, float scale,
                 bool round_scaled);

// v[i] = round_to(v[i], true).
void round_to_fp16_in_place(float* v, int64_t n);

// dst[i] = round_to(src[i], to_fp16).
void copy_rounded(const float* src, int64_t n, bool to_fp16, float* dst);

}  // namespace coreml::kernels::fused
