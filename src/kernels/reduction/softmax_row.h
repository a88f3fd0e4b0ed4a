// One softmax row, exactly as the softmax kernel computes it (shared with the fused attention
// kernel so that fusing changes no result): max in fp32, exp in fp32, sum in fp64, one scale.
// With SIMD (softmax_simd.cpp) the exps are fast_exp.h's (within a few ulp of std::exp; below
// e^-87, under 2^-125, exactly 0) and the fp64 sum runs in several partial sums; a row whose sum is
// not finite (NaN or inf inputs) is computed again by the scalar loop, so those cases behave as
// before.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/common/simd.h"

namespace coreml::kernels {

// False when the sum was not finite (out is then unspecified).
bool softmax_row_simd(const float* in, float* out, int64_t n);

inline void softmax_row_scalar(const float* in, float* out, int64_t n) {
  if (n == 0) return;
  float m = in[0];
  for (int64_t j = 1; j < n; ++j) m = std::max(m, in[j]);
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    out[j] = std::exp(in[j] - m);
    sum += out[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) out[j] *= inv;
}

inline void softmax_row(const float* in, float* out, int64_t n) {
  if (n >= 16 && simd_enabled() && softmax_row_simd(in, out, n)) return;
  softmax_row_scalar(in, out, n);
}

}  // namespace coreml::kernels
