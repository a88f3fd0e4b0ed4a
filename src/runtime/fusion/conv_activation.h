// Plan-time fusion of a conv and the activation that reads its result (relu, relu6, clip,
// silu, sigmoid, sigmoid_hard, thresholded_relu, gelu, and coremltools' hard-swish
// thresholded_relu -> sigmoid_hard -> mul) into coreml.conv_activation: the conv's kernel applies
// the activation to each result tile while it is in cache, before the one rounding to the
// output type (the separate ops rounded twice and went through memory twice).
#pragma once

#include <cstddef>

#include "runtime/fusion/graph_view.h"

namespace coreml::runtime::fusion {

// Schedules the rewrite when op `at` is a conv followed by one of those activations.
bool fuse_conv_activation(GraphView& g, size_t at);

}  // namespace coreml::runtime::fusion
