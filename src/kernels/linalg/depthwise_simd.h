// The inner loop of the depthwise conv kernel: one output row of one channel from lines of a
// zero-padded input plane, every kernel tap accumulated in registers (one load and one FMA per
// tap and vector, no partial sums in memory, no bounds checks). Highway picks the target at run
// time; with COREML_SIMD=0 the scalar loop runs.
#pragma once

#include <cstdint>

namespace coreml::kernels::linalg {

// Outputs are computed in whole vectors: callers size `out` and the padded lines for
// round_up(out_w, kDepthwiseRowPad) outputs.
constexpr int64_t kDepthwiseRowPad = 64;

struct DepthwiseRow {
  const float* const* lines;  // kernel_h padded input lines (index 0: output 0's first tap)
  const float* weights;       // [kernel_h][kernel_w]
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t out_w = 0;  // outputs of the row
  int64_t stride = 1;
  int64_t dilation = 1;
  float bias = 0.0f;
};

// out[ow] = bias + sum over taps (kh, kw) of weights[kh][kw] * lines[kh][ow * stride + kw *
// dilation], for ow < out_w (and possibly up to round_up(out_w, kDepthwiseRowPad)).
void depthwise_row(const DepthwiseRow& row, float* out);

}  // namespace coreml::kernels::linalg
