// Convs with few positions per plane on weight panels (panel_conv.cpp): output channels in
// the vector lanes instead of positions, where positions would leave lanes empty.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/conv_params.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels::linalg {

// Whether a conv with `outputs` channels over `positions` positions per plane does less vector
// work on panels than on the row-streaming kernel's tiles (e.g. 49 positions): clearly less,
// unless it is `pointwise` (positions read in place on panels, packed on rows). Against line
// tokens, which compute `line_positions` per output (its lines as wide as an input line of a
// stride phase; 0: not known), panels must save some 5 % with K (`k`) long enough.
bool panel_conv_pays(int64_t outputs, int64_t positions, int64_t line_positions, int64_t k,
                     bool pointwise);

// The panel kernel for a conv with one group of activation binding `x`, a dense fp32/fp16
// constant `weight` [Cout, Cin, kernel...], an fp32 bias (empty: none), a residual binding (-1:
// none) added after the bias, and a fused activation. `pointwise`: a 1x1 kernel with unit strides
// and no padding (positions read in place); otherwise receptive fields are gathered with
// `params`. nullptr when the weight is not such a tensor.
std::unique_ptr<runtime::OpKernel> make_panel_conv(const runtime::RtValue& weight, int x,
                                                   int residual, std::vector<float> bias,
                                                   ConvActivation activation,
                                                   const ConvParams& params, bool pointwise);

}  // namespace coreml::kernels::linalg
