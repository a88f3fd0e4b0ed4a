// Where along one axis each output sample of a resize is taken, for Core ML's sampling modes
// (coremltools' resize_bilinear documentation): a grid point g in input pixel coordinates,
// interpolated linearly between floor(g) and floor(g) + 1, or taken from the nearest pixel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/op_context.h"

namespace coreml::kernels {

enum class SamplingMode {
  kStrictAlignCorners,
  kAlignCorners,
  kDefault,
  kOffsetCorners,
  kUnalignCorners
};

// Parses sampling_mode (Error naming the op for an unknown spelling).
SamplingMode sampling_mode_of(const runtime::OpContext& ctx, const std::string& name);

// Grid point i of `out` samples over an input of `in` pixels, clamped to [0, in - 1].
double grid_point(SamplingMode mode, int64_t i, int64_t out, double in);

// One output coordinate's two source pixels and the weight of the second.
struct LinearTap {
  int64_t lo = 0, hi = 0;
  float frac = 0;
};

// Taps for linear interpolation of grid points along an axis of `in` pixels.
std::vector<LinearTap> linear_taps(SamplingMode mode, int64_t out, int64_t in);

// Nearest-neighbour source index per output index: floor((i + 0.5) * in / out), the
// half-pixel rule of TensorFlow's resize_nearest_neighbor that coremltools maps onto Core ML's
// resize_nearest_neighbor and resize(NEAREST_NEIGHBOR); clamped to [0, in - 1].
std::vector<int64_t> nearest_half_pixel_indices(int64_t out, int64_t in);

}  // namespace coreml::kernels
