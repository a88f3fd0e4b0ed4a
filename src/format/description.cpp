#include "coreml/description.h"

#include <nlohmann/json.hpp>

namespace coreml {

const char* feature_kind_name(FeatureKind kind) {
  switch (kind) {
    case FeatureKind::kTensor: return "tensor";
    case FeatureKind::kState: return "state";
    case FeatureKind::kImage: return "image";
    case FeatureKind::kInt64: return "int64";
    case FeatureKind::kDouble: return "double";
    case FeatureKind::kString: return "string";
    case FeatureKind::kDictionary: return "dictionary";
    case FeatureKind::kSequence: return "sequence";
  }
  return "unknown";
}

const FunctionDescription* ModelDescription::find_function(const std::string& name) const {
  for (const auto& f : functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

namespace {

nlohmann::ordered_json feature_json(const FeatureDescription& f) {
  nlohmann::ordered_json j;
  j["name"] = f.name;
  j["kind"] = feature_kind_name(f.kind);
  j["dtype"] = f.dtype;
  j["shape"] = f.shape;
  if (!f.enumerated_shapes.empty()) j["enumerated_shapes"] = f.enumerated_shapes;
  if (!f.shape_ranges.empty()) {
    auto ranges = nlohmann::ordered_json::array();
    for (const auto& r : f.shape_ranges) ranges.push_back({r.lower, r.upper});
    j["shape_ranges"] = ranges;
  }
  if (f.optional) j["optional"] = true;
  if (f.kind == FeatureKind::kImage) {
    j["width"] = f.width;
    j["height"] = f.height;
    j["color_space"] = f.color_space;
  }
  if (!f.key_type.empty()) j["key_type"] = f.key_type;
  if (!f.short_description.empty()) j["description"] = f.short_description;
  return j;
}

nlohmann::ordered_json features_json(const std::vector<FeatureDescription>& features) {
  auto array = nlohmann::ordered_json::array();
  for (const auto& f : features) array.push_back(feature_json(f));
  return array;
}

}  // namespace

std::string to_json(const ModelDescription& d, int indent) {
  nlohmann::ordered_json j;
  j["path"] = d.path;
  j["format"] = d.format;
  j["specification_version"] = d.specification_version;
  j["model_type"] = d.model_type;
  j["default_function"] = d.default_function;
  auto functions = nlohmann::ordered_json::array();
  for (const auto& f : d.functions) {
    nlohmann::ordered_json fj;
    fj["name"] = f.name;
    fj["opset"] = f.opset;
    fj["inputs"] = features_json(f.inputs);
    fj["outputs"] = features_json(f.outputs);
    fj["states"] = features_json(f.states);
    fj["op_counts"] = nlohmann::ordered_json::object();
    for (const auto& [type, n] : f.op_counts) fj["op_counts"][type] = n;
    functions.push_back(std::move(fj));
  }
  j["functions"] = std::move(functions);
  nlohmann::ordered_json meta;
  meta["author"] = d.metadata.author;
  meta["license"] = d.metadata.license;
  meta["version"] = d.metadata.version;
  meta["description"] = d.metadata.description;
  meta["user"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : d.metadata.user) meta["user"][k] = v;
  j["metadata"] = std::move(meta);
  nlohmann::ordered_json w;
  w["present"] = d.weights.present;
  w["files"] = d.weights.files;
  w["blobs"] = d.weights.blobs;
  w["bytes"] = d.weights.bytes;
  if (!d.weights.missing.empty()) w["missing"] = d.weights.missing;
  if (!d.weights.error.empty()) w["error"] = d.weights.error;
  j["weights"] = std::move(w);
  if (!d.compute_precision.empty()) j["compute_precision"] = d.compute_precision;
  if (!d.predicted_feature_name.empty()) {
    nlohmann::ordered_json c;
    c["label_output"] = d.predicted_feature_name;
    c["probabilities_output"] = d.predicted_probabilities_name;
    c["integer_labels"] = d.integer_class_labels;
    c["labels"] = d.class_labels;
    j["classifier"] = std::move(c);
  }
  if (!d.pipeline.empty()) {
    auto stages = nlohmann::ordered_json::array();
    for (const auto& s : d.pipeline) {
      stages.push_back({{"name", s.name},
                        {"model_type", s.model_type},
                        {"depth", s.depth},
                        {"inputs", s.inputs},
                        {"outputs", s.outputs}});
    }
    j["pipeline"] = std::move(stages);
  }
  // Invalid UTF-8 in user metadata must not abort the dump: replace it.
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace coreml
