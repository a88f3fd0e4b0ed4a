// The strided copy a strided conv's line-token band is filled with (conv_gemm.cpp): each
// phase of an input line is every stride-th element of it, widened to fp32. Highway picks the
// target at run time; COREML_SIMD=0 runs the element loop (the same values: copies and exact
// fp16 widening).
#pragma once

#include <cstdint>

namespace coreml::kernels::linalg {

// dst[j] = src[j * stride] as fp32 for j < n, src fp32 or (half) fp16. Reads no element past
// src[(n - 1) * stride]. Stride 1 and 2 in vectors (stride 2: the even lanes of each pair of
// vectors), others element by element.
void copy_every(const void* src, bool half, int64_t stride, int64_t n, float* dst);

}  // namespace coreml::kernels::linalg
