// Internal to the .mlmodel reader: the protobuf ModelDescription -> coreml::ModelDescription.
#pragma once

#include <string>
#include <vector>

#include "coreml/description.h"
#include "mil/ir.h"
#include "proto/coreml.pb.h"

namespace coreml::format::detail {

// Fills specification_version, model_type, default_function, functions (name, inputs,
// outputs, states) and metadata. Models without `description.functions` get one function,
// named after the program's only function (or "main"). Throws coreml::Error.
ModelDescription convert_description(const spec::Model& model, const mil::Program& program,
                                     const std::string& source);

// One feature list of a protobuf description; `role` ("input", "output") and `scope` (the
// file, ": ") prefix error messages.
std::vector<FeatureDescription> convert_features(
    const google::protobuf::RepeatedPtrField<spec::FeatureDescription>& proto, const char* role,
    const std::string& scope);

}  // namespace coreml::format::detail
