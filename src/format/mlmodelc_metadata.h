// metadata.json of compiled .mlmodelc folders: the description Apple's compiler writes next to
// model.mil (a JSON array holding one object).
#pragma once

#include <string>
#include <string_view>

#include "coreml/description.h"

namespace coreml::format {

// Fills specification_version, model_type, default_function, functions (name, inputs,
// outputs, states), metadata and compute_precision. `source` names the file in errors.
ModelDescription read_compiled_metadata(std::string_view json_text, const std::string& source);

// "MLModelType_neuralNetwork" -> "neuralNetwork"; "" when the field is absent or unreadable.
std::string compiled_model_type(std::string_view json_text);

}  // namespace coreml::format
