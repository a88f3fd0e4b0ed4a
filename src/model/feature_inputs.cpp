// Non-tensor inputs and classifier results of pipelines and classic models.
#include "model/feature_inputs.h"

#include <cmath>

#include "coreml/error.h"

namespace coreml::model_detail {
namespace {

std::string input_names(const FunctionDescription& function) {
  std::string names;
  for (const auto& f : function.inputs) names += (names.empty() ? "" : ", ") + f.name;
  return names;
}

[[noreturn]] void wrong_kind(const FeatureDescription& f, const FeatureValue& v) {
  std::string expected = feature_kind_name(f.kind);
  if (f.kind == FeatureKind::kDictionary) expected = "dictionary<" + f.key_type + ",double>";
  fail(ErrorCode::kInvalidArgument, "input '", f.name, "': got a ",
       feature_value_kind_name(v.kind()), ", expected a ", expected);
}

// A one-element tensor's value as a double.
bool single_number(const FeatureValue& v, double* out) {
  if (v.kind() == FeatureValue::Kind::kInt64 || v.kind() == FeatureValue::Kind::kDouble) {
    *out = v.as_double();
    return true;
  }
  if (v.is_tensor() && v.tensor().numel() == 1) {
    *out = v.tensor().to(DType::kFloat64).to_vector<double>()[0];
    return true;
  }
  return false;
}

FeatureValue convert(const FeatureDescription& f, const FeatureValue& v) {
  double number = 0;
  switch (f.kind) {
    case FeatureKind::kDouble:
      if (!single_number(v, &number)) wrong_kind(f, v);
      return number;
    case FeatureKind::kInt64:
      if (v.kind() == FeatureValue::Kind::kInt64) return v;
      if (!single_number(v, &number) || number != std::trunc(number) || std::abs(number) > 9e18) {
        wrong_kind(f, v);
      }
      return static_cast<int64_t>(number);
    case FeatureKind::kString:
      if (v.kind() != FeatureValue::Kind::kString) wrong_kind(f, v);
      return v;
    case FeatureKind::kDictionary: {
      const auto want = f.key_type == "int64" ? FeatureValue::Kind::kInt64Dictionary
                                              : FeatureValue::Kind::kStringDictionary;
      if (v.kind() != want) wrong_kind(f, v);
      return v;
    }
    case FeatureKind::kTensor:
      if (!v.is_tensor()) wrong_kind(f, v);
      return v;
    case FeatureKind::kImage:
      // The [1, C, H, W] tensor of coreml/image.h; the stage that reads it checks its size.
      if (!v.is_tensor()) wrong_kind(f, v);
      return v;
    default:
      fail(ErrorCode::kUnsupported, "input '", f.name, "' is a ", feature_kind_name(f.kind),
           " feature, which classic models and pipelines do not take here");
  }
}

}  // namespace

Features check_feature_inputs(const FunctionDescription& function, const FeatureInputs& inputs) {
  Features out;
  for (const auto& f : function.inputs) {
    const auto it = inputs.find(f.name);
    if (it == inputs.end()) {
      if (f.optional) continue;
      fail(ErrorCode::kInvalidArgument, "missing input '", f.name,
           "' (the model takes: ", input_names(function), ")");
    }
    out.emplace(f.name, convert(f, it->second));
  }
  for (const auto& [name, value] : inputs) {
    if (!out.count(name)) {
      bool declared = false;
      for (const auto& f : function.inputs) declared |= f.name == name;
      if (!declared) {
        fail(ErrorCode::kInvalidArgument, "unknown input '", name,
             "' (the model takes: ", input_names(function), ")");
      }
    }
  }
  return out;
}

Classification classification_of(const ModelDescription& d, const Features& features) {
  Classification c;
  c.label_output = d.predicted_feature_name;
  c.probabilities_output = d.predicted_probabilities_name;
  c.classes = d.class_labels;
  c.integer_classes = d.integer_class_labels;
  const auto label = features.find(d.predicted_feature_name);
  if (label == features.end()) {
    fail(ErrorCode::kInvalidArgument, d.path, ": the model did not compute its label output '",
         d.predicted_feature_name, "'");
  }
  const std::string text = label->second.kind() == FeatureValue::Kind::kInt64
                               ? std::to_string(label->second.as_int64())
                               : label->second.as_string();
  c.top = c.classes.size();
  for (size_t i = 0; i < c.classes.size(); ++i) {
    if (c.classes[i] == text) c.top = i;
  }
  if (c.top == c.classes.size()) {
    fail(ErrorCode::kInvalidArgument, d.path, ": label '", text, "' is not one of its classes");
  }
  const auto probs = features.find(d.predicted_probabilities_name);
  if (!d.predicted_probabilities_name.empty() && probs != features.end()) {
    c.probabilities.assign(c.classes.size(), 0.0);
    for (size_t i = 0; i < c.classes.size(); ++i) {
      if (c.integer_classes) {
        const auto& dict = probs->second.as_int64_dictionary();
        const auto it = dict.find(std::stoll(c.classes[i]));
        if (it != dict.end()) c.probabilities[i] = it->second;
      } else {
        const auto& dict = probs->second.as_string_dictionary();
        const auto it = dict.find(c.classes[i]);
        if (it != dict.end()) c.probabilities[i] = it->second;
      }
    }
  } else {
    c.probabilities_output.clear();
  }
  return c;
}

FeatureValue probability_dictionary(const Classification& c) {
  if (c.integer_classes) {
    Int64Dictionary d;
    for (size_t i = 0; i < c.classes.size() && i < c.probabilities.size(); ++i) {
      d[std::stoll(c.classes[i])] = c.probabilities[i];
    }
    return d;
  }
  StringDictionary d;
  for (size_t i = 0; i < c.classes.size() && i < c.probabilities.size(); ++i) {
    d[c.classes[i]] = c.probabilities[i];
  }
  return d;
}

}  // namespace coreml::model_detail
