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

// The sizes of one conv: channels, and every spatial extent widened to 3 dimensions.
struct ConvShape {
  int64_t n = 0, cin = 0, cout = 0, cin_group = 0, cout_group = 0;
  std::array<int64_t, 3> in{}, kernel{}, out{}, before{};  // before: padding ahead of each dim
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// The shape of conv(x of shape `xs`, weight of shape `ws`) with parameters `p` into `s`;
// an empty string, or what is wrong.
std::string conv_shape(const std::vector<int64_t>& xs, const std::vector<int64_t>& ws,
                       const ConvParams& p, ConvShape* s);

// `shape[2:]` widened to 3 dimensions (leading 1s).
std::array<int64_t, 3> spatial3(const std::vector<int64_t>& shape);

}  // namespace coreml::kernels::linalg
