// Internal to the .mlmodel reader: the description of a pipeline or classic model (no
// program): its features, classifier labels and pipeline stages.
#pragma once

#include <string>

#include "coreml/description.h"
#include "proto/coreml.pb.h"

namespace coreml::format::detail {

// One function "main" with the model's inputs and outputs, the classifier's label and
// probability outputs and labels (a pipeline classifier's: its last classifier's), and the
// pipeline's stages. Throws coreml::Error naming `source` and the field.
ModelDescription convert_classic_description(const spec::Model& model, const std::string& source);

}  // namespace coreml::format::detail
