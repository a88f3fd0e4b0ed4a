// Internal to the .mlmodel reader: the protobuf ModelDescription -> coreml::ModelDescription.
#pragma once

#include <string>

#include "coreml/description.h"
#include "mil/ir.h"
#include "proto/coreml.pb.h"

namespace coreml::format::detail {

// Fills specification_version, model_type, default_function, functions (name, inputs,
// outputs, states) and metadata. Models without `description.functions` get one function,
// named after the program's only function (or "main"). Throws coreml::Error.
ModelDescription convert_description(const spec::Model& model, const mil::Program& program,
                                     const std::string& source);

}  // namespace coreml::format::detail
