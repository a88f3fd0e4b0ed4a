// The facade's side of non-tensor features: checking a pipeline's or classic model's inputs
// against its description, and its classifier result as a Classification.
#pragma once

#include "coreml/description.h"
#include "coreml/feature_value.h"
#include "coreml/model.h"
#include "model/pipeline.h"

namespace coreml::model_detail {

// `inputs` as the model declares them: every declared input present (unless optional), no
// unknown names, each of its declared kind. Accepted conversions: a one-element tensor for a
// double or int64 feature, an int64 for a double, an integral double for an int64.
Features check_feature_inputs(const FunctionDescription& function, const FeatureInputs& inputs);

// The classifier's label and probabilities (from the model's label and probability outputs).
Classification classification_of(const ModelDescription& description, const Features& features);

// A Classification's probabilities as Core ML's dictionary (keyed by label).
FeatureValue probability_dictionary(const Classification& c);

}  // namespace coreml::model_detail
