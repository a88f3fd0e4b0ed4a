// Depthwise convs over small planes with channels in the vector lanes: a block of as many
// channels as a vector has lanes, each position's values of the block side by side. A 7 x 7
// plane (EfficientNet's and MobileNet's last stages) filled 7 of 16 lanes per output row on the
// per-channel path (depthwise_simd.h), and a call per channel of 49 outputs cost more than its
// arithmetic; here every lane holds a channel and one call serves the block. Highway picks the
// target at run time; there is no scalar form (COREML_SIMD=0 takes the per-channel path).
#pragma once

#include <cstdint>
#include <vector>

namespace coreml::kernels::linalg {

// Lanes of the SIMD target in use (the channels of one block).
int64_t depthwise_block_lanes();

struct DepthwiseBlock {
  // Channel j < channels of the block reads the fp32 input plane at input + plane_offsets[j]
  // (in_h lines of in_w values).
  const float* input = nullptr;
  const int64_t* plane_offsets = nullptr;
  int64_t channels = 0;  // 1 to depthwise_block_lanes()
  int64_t in_h = 0, in_w = 0;
  int64_t top = 0, left = 0;  // input (ih, iw) lands on padded (ih + top, iw + left)
  int64_t padded_h = 0, padded_w = 0;
  // The block's taps as depthwise_block_taps arranges them ([kernel_h * kernel_w][lanes]) and
  // its bias ([lanes]).
  const float* taps = nullptr;
  const float* bias = nullptr;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  // `padded` holds an earlier block of the same geometry: its padding is zero (lanes past
  // `channels` may hold that block's values: their results are never stored).
  bool reuse_padding = false;
};

// Every block's taps and bias, arranged once at load: for block q (output channels q * lanes
// on), taps[q] = [kernel_size][lanes] with lane j channel q * lanes + j's tap, zero past
// `channels`; bias[q] = [lanes], zero where `bias` is empty.
struct DepthwiseBlockTaps {
  std::vector<float> taps, bias;
};
DepthwiseBlockTaps depthwise_block_taps(const std::vector<float>& weights,  // [channels][ksize]
                                        const std::vector<float>& bias, int64_t channels,
                                        int64_t kernel_size, int64_t lanes);
// The inverse: the taps back by channel, [channels][kernel_size].
std::vector<float> depthwise_channel_taps(const DepthwiseBlockTaps& blocked, int64_t channels,
                                          int64_t kernel_size, int64_t lanes);

// Floats of staging depthwise_block and depthwise_block_columns need for planes of `positions`
// (the input plane for the first, the output plane for the second).
int64_t depthwise_block_staging(int64_t positions, int64_t lanes);

// The block's padded input in `padded` (padded_h * padded_w * lanes floats, position-major, zero
// outside the input and in lanes past `channels`), then out[(oh * out_w + ow) * lanes + j] =
// bias[j] + the sum over taps (kh, kw), in that order, of weight * padded input: the
// per-channel path's sums, term by term. `staging`: depthwise_block_staging(in_h * in_w) floats.
void depthwise_block(const DepthwiseBlock& b, float* padded, float* staging, float* out);

// Lane j < channels of each of `positions` vectors of `block` (lanes floats each) to
// out + j * positions, contiguous: a block's results back to its channels' planes. `block` is
// readable up to round_up(positions, lanes) * lanes floats (values past `positions` are never
// stored); `staging`: depthwise_block_staging(positions) floats.
void depthwise_block_columns(const float* block, int64_t positions, int64_t channels,
                             float* staging, float* out);

}  // namespace coreml::kernels::linalg
