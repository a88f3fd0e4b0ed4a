// NeuralNetwork models (Model fields neuralNetwork, neuralNetworkClassifier,
// neuralNetworkRegressor) -> the MIL IR, so that one planner, one set of kernels and every
// backend serve both kinds of model. Layer semantics follow Core ML's NeuralNetwork.proto: the
// rank-5 [Seq, Batch, C, H, W] blobs of specification <= 3 ("channel" is axis -3, "height" -2,
// "width" -1, leading axes are batch), the exact ranks of specification >= 4, the padding and
// output-shape rules of convolution and pooling, and the image preprocessing of the network.
#pragma once

#include <string>

#include "mil/ir.h"
#include "proto/coreml.pb.h"

namespace coreml::format {

// One function, "main", whose inputs and outputs are the model description's features. A
// classifier ends in a classify op producing the description's predicted feature (the label)
// and its probabilities. `source` names the file in errors; every error names the layer (name
// and type) and the field at fault. Unsupported layer types are refused here, by name.
// Throws coreml::Error.
mil::Program translate_neural_network(const spec::Model& model, const std::string& source);

}  // namespace coreml::format
