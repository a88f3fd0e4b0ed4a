// One layer_norm row as the simple kernel (norm_ops.cpp) computes it: mean and biased variance
// in fp64, the normalized value (x - mean) / sqrt(var + epsilon) in fp64 rounded to fp32, then
// times gamma and plus beta in fp32. The SIMD form (layer_norm_simd.cpp) keeps every step and
// only sums in another order (vector partial sums).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/simd.h"

namespace coreml::kernels {

// gamma/beta may be nullptr (1 and 0). `out` may be `in`.
void layer_norm_row_simd(const float* in, int64_t n, double epsilon, const float* gamma,
                         const float* beta, float* out);

// Mean and 1 / sqrt(biased variance + epsilon) of a row, summed in fp64 in element order (the
// simple layer_norm and instance_norm kernels use them too).
struct RowMoments {
  double mean = 0;
  double inv_std = 0;
};

inline RowMoments row_moments(const float* row, int64_t n, double epsilon) {
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += row[j];
  const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double sq = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double d = row[j] - mean;
    sq += d * d;
  }
  const double var = n > 0 ? sq / static_cast<double>(n) : 0.0;
  return {mean, 1.0 / std::sqrt(var + epsilon)};
}

inline void layer_norm_row_scalar(const float* in, int64_t n, double epsilon, const float* gamma,
                                  const float* beta, float* out) {
  const RowMoments m = row_moments(in, n, epsilon);
  for (int64_t j = 0; j < n; ++j) {
    const float g = gamma ? gamma[j] : 1.0f;
    const float b = beta ? beta[j] : 0.0f;
    out[j] = static_cast<float>((in[j] - m.mean) * m.inv_std) * g + b;
  }
}

inline void layer_norm_row(const float* in, int64_t n, double epsilon, const float* gamma,
                           const float* beta, float* out) {
  if (simd_enabled()) {
    layer_norm_row_simd(in, n, epsilon, gamma, beta, out);
  } else {
    layer_norm_row_scalar(in, n, epsilon, gamma, beta, out);
  }
}

}  // namespace coreml::kernels
