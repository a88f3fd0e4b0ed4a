// The two row steps of max_pool over fp32 or fp16 planes, fp16 widened in registers (no
// converted copy of the input): the maximum of a window's input rows, column by column, then of
// each window's columns. Highway picks the target at run time; COREML_SIMD=0 runs the scalar
// loops (the same comparisons in the same order, so the same values).
//
// "Maximum" keeps the value so far unless it is less than the next one: a NaN never wins, and of
// equal values (+0 and -0) the first stays, as in a plain loop over the window.
#pragma once

#include <cstdint>

namespace coreml::kernels {

// columns[i] = max(columns[i], row[i]) for i < n, row fp16 when `half`; with `first`, the
// running maximum starts at -inf instead of columns[i] (which is then only written).
void max_pool_columns(const void* row, bool half, int64_t n, bool first, float* columns);

// out[o] = max over kx < kernel of columns[o * stride + kx] (from -inf), for o < count, stored
// as fp32 or (out_half) rounded to fp16. Reads columns[0, (count - 1) * stride + kernel] (one
// float past the last window).
void max_pool_windows(const float* columns, int64_t kernel, int64_t stride, int64_t count,
                      void* out, bool out_half);

}  // namespace coreml::kernels
