// Reads a serialized CoreML.Specification.Model protobuf (`.mlmodel`, or the root item of an
// `.mlpackage`) into the IR plus the parts of the description the protobuf holds.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "coreml/description.h"
#include "mil/ir.h"
#include "proto/coreml.pb.h"

namespace coreml::format {

struct ModelSpec {
  mil::Program program;
  // Filled: specification_version, model_type, default_function, functions (name, inputs,
  // outputs, states; opset and op_counts are filled by the caller from the program),
  // metadata. Left for the caller: path, format, weights.
  ModelDescription description;
  // Set for pipelines and the classic model types (program empty): the whole protobuf, for
  // src/model to build the model from.
  std::shared_ptr<const spec::Model> model;
};

// `source` names the file in error messages. NeuralNetwork models are translated into the IR
// (format/neural_network/translate.h); pipelines and classic types keep their protobuf (`model`);
// model types our schema does not declare throw ErrorCode::kUnsupported: "model type X is not
// supported (...)".
ModelSpec read_model_spec(std::string_view serialized, const std::string& source);
// The same for a model already parsed (a pipeline's sub-model).
ModelSpec read_model_spec(spec::Model model, const std::string& source);
// The protobuf parse alone (the first step of read_model_spec): a caller holding the file's bytes
// drops them before the conversion, which then does not hold them beside the IR.
spec::Model parse_model_protobuf(std::string_view serialized, const std::string& source);

// The Core ML name of the model's type ("mlProgram", "pipeline", "scaler", ...; "" if none).
std::string_view model_type_name(const spec::Model& model);

}  // namespace coreml::format
