// Output size and padding of max_pool / avg_pool / l2_pool along each spatial axis, per
// coremltools' definition (pad_type valid | same | same_lower | custom, ceil_mode).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/op_context.h"

namespace coreml::kernels {

struct PoolAxis {
  int64_t in = 1;
  int64_t kernel = 1;
  int64_t stride = 1;
  int64_t pad_before = 0;
  int64_t pad_after = 0;
  int64_t out = 1;
};

// Reads kernel_sizes, strides, pad_type, pad and ceil_mode for x's spatial axes (x.rank()-2
// of them) and returns one PoolAxis per spatial axis.
std::vector<PoolAxis> pool_geometry(const runtime::OpContext& ctx,
                                    const std::vector<int64_t>& x_shape);

}  // namespace coreml::kernels
