// Separable resizing: one axis at a time, each output element a blend of (at most) two input
// elements along that axis.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/image/sampling_grid.h"

namespace coreml::kernels {

// Resizes `data` (row-major over `shape`) along `axis` to `taps.size()` elements; updates
// `shape`. Nearest-neighbour resizing passes taps with frac 0.
void resize_axis(std::vector<float>& data, std::vector<int64_t>& shape, size_t axis,
                 const std::vector<LinearTap>& taps);

// Nearest-neighbour indices as taps.
std::vector<LinearTap> nearest_taps(const std::vector<int64_t>& indices);

}  // namespace coreml::kernels
