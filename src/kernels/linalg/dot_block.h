// The inner loop of the simple linalg kernels: a block of dot products between rows of two
// row-major fp32 matrices that share their inner size k (both "k-contiguous"). Highway picks
// the best SIMD target at run time; COREML_SIMD=0 forces the scalar path, which is also
// callable directly so tests can compare the two.
#pragma once

#include <cstdint>

#include "kernels/common/simd.h"

namespace coreml::kernels::linalg {

// out[i * out_a + j * out_b] = sum_t a[i * k + t] * b[j * k + t] for i < a_rows, j < b_rows.
void dot_block(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t k,
               float* out, int64_t out_a, int64_t out_b);
void dot_block_scalar(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t k,
                      float* out, int64_t out_a, int64_t out_b);
void dot_block_simd(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t k,
                    float* out, int64_t out_a, int64_t out_b);

}  // namespace coreml::kernels::linalg
