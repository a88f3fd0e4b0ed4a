// make_evaluator: the dispatch from a classic model's type to its evaluator.
#include "classic/evaluator.h"

#include "classic/model_types.h"
#include "proto/coreml.pb.h"

namespace coreml::classic {

std::unique_ptr<Evaluator> make_evaluator(const spec::Model& model, const std::string& source) {
  if (model.has_glm_regressor()) return make_glm_regressor(model, source);
  if (model.has_glm_classifier()) return make_glm_classifier(model, source);
  if (model.has_tree_ensemble_regressor()) return make_tree_ensemble_regressor(model, source);
  if (model.has_tree_ensemble_classifier()) return make_tree_ensemble_classifier(model, source);
  if (model.has_support_vector_regressor()) return make_support_vector_regressor(model, source);
  if (model.has_support_vector_classifier()) return make_support_vector_classifier(model, source);
  if (model.has_k_nearest_neighbors_classifier()) {
    return make_k_nearest_neighbors_classifier(model, source);
  }
  if (model.has_one_hot_encoder()) return make_one_hot_encoder(model, source);
  if (model.has_imputer()) return make_imputer(model, source);
  if (model.has_feature_vectorizer()) return make_feature_vectorizer(model, source);
  if (model.has_dict_vectorizer()) return make_dict_vectorizer(model, source);
  if (model.has_scaler()) return make_scaler(model, source);
  if (model.has_categorical_mapping()) return make_categorical_mapping(model, source);
  if (model.has_normalizer()) return make_normalizer(model, source);
  if (model.has_array_feature_extractor()) return make_array_feature_extractor(model, source);
  if (model.has_identity()) return make_identity(model, source);
  return nullptr;
}

}  // namespace coreml::classic
