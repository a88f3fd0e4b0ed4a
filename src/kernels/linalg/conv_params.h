// Spatial parameters shared by conv and conv_transpose (strides, dilations, pad_type, pad,
// groups), with every spatial rank (1-3) widened to 3 by leading size-1 dimensions so the
// loops are written once.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/op_context.h"

namespace coreml::kernels::linalg {

struct ConvParams {
  int spatial = 0;  // 1, 2 or 3: the op's own spatial rank
  std::array<int64_t, 3> stride{1, 1, 1};
  std::array<int64_t, 3> dilation{1, 1, 1};
  std::array<int64_t, 3> custom_before{0, 0, 0};  // pad[2i] (pad_type custom)
  std::array<int64_t, 3> custom_after{0, 0, 0};   // pad[2i + 1]
  std::string pad_type = "valid";
  int64_t groups = 1;
};

// Reads the parameters of a conv-like op whose x has rank `x_rank` (= 2 + spatial).
ConvParams read_conv_params(const runtime::OpContext& ctx, int64_t x_rank);

// `shape[2:]` widened to 3 dimensions (leading 1s).
std::array<int64_t, 3> spatial3(const std::vector<int64_t>& shape);

}  // namespace coreml::kernels::linalg
