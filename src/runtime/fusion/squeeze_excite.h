// Plan-time fusion of squeeze-excite (MobileNetV3's and EfficientNet's channel gate):
//   m = reduce_mean(x, axes = [H, W], keep_dims)  -> conv 1x1 [+ act] -> conv 1x1 [+ act] -> g
//   y = mul(x, g)
// (the convs usually already coreml.conv_activation) into coreml.squeeze_excite. The separate
// ops are four dispatches, four thread-pool regions and a GEMM set-up for matrix-vector
// products of a few hundred values; the fused kernel reads x twice (sums, then the scaling)
// and rounds every intermediate to the dtype its op declared, as the separate ops did.
#pragma once

#include <cstddef>

#include "runtime/fusion/graph_view.h"

namespace coreml::runtime::fusion {

// Schedules the rewrite when op `at` is the mul of that pattern.
bool fuse_squeeze_excite(GraphView& g, size_t at);

}  // namespace coreml::runtime::fusion
