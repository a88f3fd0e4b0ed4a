// The inner loops of the depthwise conv kernel, one channel per call (one dispatch): the
// channel's input plane copied into a zero-padded fp32 plane (fp16 widened on the way, in
// vectors), then its output plane with every kernel tap accumulated in registers (one load and
// one FMA per tap and vector, no partial sums in memory, no bounds checks). 3x3 and 5x5 kernels
// at strides 1 and 2 (MobileNet's and EfficientNet's) are unrolled at compile time and computed
// four output rows at a time, so four independent FMA chains hide the FMA latency; other shapes
// take a generic loop. At stride 2 the padded lines are stored split, even columns then odd
// ones, so every tap is a plain load: de-interleaving loads per tap cost several shuffles per
// FMA. Highway picks the target at run time; with COREML_SIMD=0 the scalar loops run.
#pragma once

#include <cstdint>

namespace coreml::kernels::linalg {

// Slack for whole vectors (of up to kDepthwiseRowPad floats): padded lines hold at least
// (round_up(out_w, kDepthwiseRowPad) - 1) * stride_w + (kernel_w - 1) * dilation_w + 2 floats
// (and the input line at its offset), and the output plane has kDepthwiseRowPad floats of room
// after its out_h * out_w values.
constexpr int64_t kDepthwiseRowPad = 64;
// At stride 2, lines this many floats longer than that leave room to store them split (even
// columns, then odd ones) for vectors of up to 16 lanes; shorter lines (or wider vectors) keep
// de-interleaving loads.
constexpr int64_t kDepthwiseSplitSlack = 64;

struct DepthwiseChannel {
  // The input plane: in_h lines of in_w values, dense, fp16 when `half`.
  const void* input = nullptr;
  bool half = false;
  int64_t in_h = 0, in_w = 0;
  int64_t top = 0, left = 0;  // input (ih, iw) lands on padded (ih + top, iw + left)
  // The padded plane: padded_h lines of line_stride floats.
  int64_t padded_h = 0, line_stride = 0;
  const float* weights = nullptr;  // [kernel_h][kernel_w]
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  float bias = 0.0f;
  // `padded` already holds a previous channel of the same geometry (same fields but input,
  // weights and bias): its padding is zero, and only the input lines need writing.
  bool reuse_padding = false;
};

// Fills `padded` from c's input, then
// out[oh * out_w + ow] = bias + sum over taps (kh, kw) of weights[kh][kw] *
// padded[(oh * stride_h + kh * dilation_h) * line_stride + ow * stride_w + kw * dilation_w]
// for oh < out_h, ow < out_w. `out` holds out_h * out_w + kDepthwiseRowPad floats (whole
// vectors may be written past a row's end, and past the plane's). `padded` holds padded_h lines
// of line_stride floats.
void depthwise_channel(const DepthwiseChannel& c, float* padded, float* out);

}  // namespace coreml::kernels::linalg
