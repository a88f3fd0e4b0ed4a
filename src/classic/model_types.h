// Factories of the classic evaluators, one per model type (each in its own file); the
// dispatch on the type is make_evaluator (evaluator.cpp).
#pragma once

#include <memory>
#include <string>

#include "classic/evaluator.h"

namespace coreml::classic {

#define COREML_CLASSIC_FACTORY(name) \
  std::unique_ptr<Evaluator> name(const spec::Model& model, const std::string& source)

COREML_CLASSIC_FACTORY(make_glm_regressor);
COREML_CLASSIC_FACTORY(make_glm_classifier);
COREML_CLASSIC_FACTORY(make_tree_ensemble_regressor);
COREML_CLASSIC_FACTORY(make_tree_ensemble_classifier);
COREML_CLASSIC_FACTORY(make_support_vector_regressor);
COREML_CLASSIC_FACTORY(make_support_vector_classifier);
COREML_CLASSIC_FACTORY(make_k_nearest_neighbors_classifier);
COREML_CLASSIC_FACTORY(make_one_hot_encoder);
COREML_CLASSIC_FACTORY(make_imputer);
COREML_CLASSIC_FACTORY(make_feature_vectorizer);
COREML_CLASSIC_FACTORY(make_dict_vectorizer);
COREML_CLASSIC_FACTORY(make_scaler);
COREML_CLASSIC_FACTORY(make_categorical_mapping);
COREML_CLASSIC_FACTORY(make_normalizer);
COREML_CLASSIC_FACTORY(make_array_feature_extractor);
COREML_CLASSIC_FACTORY(make_identity);

#undef COREML_CLASSIC_FACTORY

}  // namespace coreml::classic
