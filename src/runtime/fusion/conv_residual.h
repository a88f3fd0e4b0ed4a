// Plan-time fusion of a conv and the residual add that reads its result (ResNet's blocks,
// MobileNet's and EfficientNet's inverted residuals), with the relu that may follow:
// y = relu?(conv(x) + r) becomes coreml.conv_residual, whose kernel adds r to each result tile
// (after the bias, before the activation and the one rounding to the output type) while it is
// in cache, instead of writing the conv's output and reading it back for the add.
#pragma once

#include <cstddef>

#include "runtime/fusion/graph_view.h"

namespace coreml::runtime::fusion {

// Schedules the rewrite when op `at` is a conv (one group) whose result only an add reads,
// together with a tensor of the same shape and type.
bool fuse_conv_residual(GraphView& g, size_t at);

}  // namespace coreml::runtime::fusion
