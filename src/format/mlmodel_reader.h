// Reads a serialized CoreML.Specification.Model protobuf (`.mlmodel`, or the root item of an
// `.mlpackage`) into the IR plus the parts of the description the protobuf holds.
#pragma once

#include <string>
#include <string_view>

#include "coreml/description.h"
#include "mil/ir.h"

namespace coreml::format {

struct ModelSpec {
  mil::Program program;
  // Filled: specification_version, model_type, default_function, functions (name, inputs,
  // outputs, states; opset and op_counts are filled by the caller from the program),
  // metadata. Left for the caller: path, format, weights.
  ModelDescription description;
};

// `source` names the file in error messages. NeuralNetwork models are translated into the IR
// (format/neural_network/translate.h); other non-ML-Program models throw
// ErrorCode::kUnsupported: "model type X is not supported (only ML Programs)".
ModelSpec read_model_spec(std::string_view serialized, const std::string& source);

}  // namespace coreml::format
