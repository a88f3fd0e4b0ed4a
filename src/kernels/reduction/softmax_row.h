// One softmax row, exactly as the softmax kernel computes it (shared with the fused attention
// kernel so that fusing changes no result): max in fp32, exp in fp32, sum in fp64, one scale.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace coreml::kernels {

inline void softmax_row(const float* in, float* out, int64_t n) {
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

}  // namespace coreml::kernels
