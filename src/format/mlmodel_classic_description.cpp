// The description of a pipeline or classic model.
#include "format/mlmodel_classic_description.h"

#include <set>
#include <string>
#include <vector>

#include "coreml/error.h"
#include "format/mlmodel_description.h"
#include "format/mlmodel_reader.h"

namespace coreml::format::detail {
namespace {

// Pipelines nest at most this deep (Core ML's converters emit two levels).
constexpr int kMaxPipelineDepth = 8;

const spec::Pipeline* pipeline_of(const spec::Model& model) {
  if (model.has_pipeline()) return &model.pipeline();
  if (model.has_pipeline_classifier()) return &model.pipeline_classifier().pipeline();
  if (model.has_pipeline_regressor()) return &model.pipeline_regressor().pipeline();
  return nullptr;
}

template <typename Classic>
bool labels_from(const Classic& classic, std::vector<std::string>& labels, bool& integer) {
  if (classic.has_string_class_labels()) {
    labels.assign(classic.string_class_labels().vector().begin(),
                  classic.string_class_labels().vector().end());
    integer = false;
    return true;
  }
  if (classic.has_int64_class_labels()) {
    labels.clear();
    for (int64_t v : classic.int64_class_labels().vector()) labels.push_back(std::to_string(v));
    integer = true;
    return true;
  }
  return false;
}

// A classifier's labels; a pipeline's are those of its last model that has labels.
bool class_labels(const spec::Model& model, std::vector<std::string>& labels, bool& integer,
                  int depth) {
  if (model.has_glm_classifier()) return labels_from(model.glm_classifier(), labels, integer);
  if (model.has_tree_ensemble_classifier()) {
    return labels_from(model.tree_ensemble_classifier(), labels, integer);
  }
  if (model.has_support_vector_classifier()) {
    return labels_from(model.support_vector_classifier(), labels, integer);
  }
  if (model.has_k_nearest_neighbors_classifier()) {
    // One label per stored sample: the classes are the distinct labels, in sorted order. With
    // no samples yet (an updatable model before its first update) the default label is the
    // only answer.
    const auto& knn = model.k_nearest_neighbors_classifier();
    if (!labels_from(knn, labels, integer) || labels.empty()) {
      if (knn.has_default_string_label()) {
        labels = {knn.default_string_label()};
        integer = false;
        return true;
      }
      if (knn.has_default_int64_label()) {
        labels = {std::to_string(knn.default_int64_label())};
        integer = true;
        return true;
      }
      return false;
    }
    if (integer) {
      std::set<int64_t> distinct;
      for (const auto& l : labels) distinct.insert(std::stoll(l));
      labels.clear();
      for (int64_t v : distinct) labels.push_back(std::to_string(v));
    } else {
      const std::set<std::string> distinct(labels.begin(), labels.end());
      labels.assign(distinct.begin(), distinct.end());
    }
    return true;
  }
  const spec::Pipeline* pipeline = pipeline_of(model);
  if (!pipeline || depth >= kMaxPipelineDepth) return false;
  for (int i = pipeline->models_size() - 1; i >= 0; --i) {
    if (class_labels(pipeline->models(i), labels, integer, depth + 1)) return true;
  }
  return false;
}

std::vector<std::string> names_of(
    const google::protobuf::RepeatedPtrField<spec::FeatureDescription>& features) {
  std::vector<std::string> names;
  for (const auto& f : features) names.push_back(f.name());
  return names;
}

void list_stages(const spec::Pipeline& pipeline, int depth, const std::string& source,
                 std::vector<PipelineStage>& out) {
  if (depth > kMaxPipelineDepth) {
    fail(ErrorCode::kUnsupported, source, ": pipelines nested deeper than ", kMaxPipelineDepth,
         " levels");
  }
  for (int i = 0; i < pipeline.models_size(); ++i) {
    const spec::Model& model = pipeline.models(i);
    PipelineStage stage;
    stage.name = i < pipeline.names_size() ? pipeline.names(i) : std::string();
    stage.model_type = std::string(model_type_name(model));
    if (stage.model_type.empty()) stage.model_type = "none";
    stage.depth = depth;
    stage.inputs = names_of(model.description().input());
    stage.outputs = names_of(model.description().output());
    out.push_back(std::move(stage));
    if (const spec::Pipeline* inner = pipeline_of(model)) {
      list_stages(*inner, depth + 1, source, out);
    }
  }
}

}  // namespace

ModelDescription convert_classic_description(const spec::Model& model, const std::string& source) {
  ModelDescription out = convert_description(model, mil::Program{}, source);
  out.model_type = std::string(model_type_name(model));
  out.weights.present = true;  // classic models hold their parameters in the protobuf
  const spec::ModelDescription& proto = model.description();
  // Classifiers: the classifier types, pipeline classifiers, and pipelines that name a label.
  const bool classifier = !model.has_pipeline_regressor() &&
                          (!model.has_pipeline() || !proto.predicted_feature_name().empty());
  if (classifier && class_labels(model, out.class_labels, out.integer_class_labels, 0)) {
    out.predicted_feature_name = proto.predicted_feature_name();
    out.predicted_probabilities_name = proto.predicted_probabilities_name();
    if (out.predicted_feature_name.empty() && proto.output_size() > 0) {
      out.predicted_feature_name = proto.output(0).name();
    }
  }
  if (const spec::Pipeline* pipeline = pipeline_of(model)) {
    list_stages(*pipeline, 1, source, out.pipeline);
  }
  return out;
}

}  // namespace coreml::format::detail
