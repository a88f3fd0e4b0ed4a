// Inputs, outputs and labels shared by the classic evaluators.
#include "classic/features.h"

#include <algorithm>

#include "coreml/error.h"

namespace coreml::classic {
namespace {

// ArrayFeatureType.ArrayDataType codes (coremltools 9.0, FeatureTypes_pb2).
constexpr int kArrayFloat32 = 65568;
constexpr int kArrayFloat64 = 65600;
constexpr int kArrayFloat16 = 65552;
constexpr int kArrayInt32 = 131104;

DType array_dtype(int code) {
  switch (code) {
    case kArrayFloat32: return DType::kFloat32;
    case kArrayFloat16: return DType::kFloat16;
    case kArrayInt32: return DType::kInt32;
    case kArrayFloat64:
    default: return DType::kFloat64;  // unset (0): Core ML's classic models compute in double
  }
}

}  // namespace

Interface::Interface(const spec::Model& model, const std::string& source, const char* type)
    : where(source + ": " + type) {
  const spec::ModelDescription& d = model.description();
  for (const auto& f : d.input()) inputs.push_back(&f);
  for (const auto& f : d.output()) outputs.push_back(&f);
  label_output = d.predicted_feature_name();
  if (label_output.empty() && !outputs.empty()) label_output = outputs.front()->name();
  probabilities_output = d.predicted_probabilities_name();
  if (probabilities_output.empty()) {
    for (const auto* f : outputs) {
      if (f->type().has_dictionary_type()) probabilities_output = f->name();
    }
  }
  if (inputs.empty()) fail(ErrorCode::kParse, where, ": the model declares no inputs");
}

const FeatureValue& Interface::input(const Features& features, const std::string& name) const {
  const auto it = features.find(name);
  if (it == features.end())
    fail(ErrorCode::kInvalidArgument, where, ": missing input '", name, "'");
  return it->second;
}

std::vector<double> Interface::input_vector(const Features& features) const {
  std::vector<double> out;
  for (const auto* in : inputs) {
    const FeatureValue& value = input(features, in->name());
    switch (value.kind()) {
      case FeatureValue::Kind::kInt64:
      case FeatureValue::Kind::kDouble: out.push_back(value.as_double()); break;
      case FeatureValue::Kind::kTensor: {
        const Tensor& t = value.tensor();
        if (static_cast<int64_t>(out.size()) + t.numel() > kMaxVectorLength) {
          fail(ErrorCode::kInvalidArgument, where, ": input '", in->name(), "' has ", t.numel(),
               " elements, more than the ", kMaxVectorLength, " a feature vector may hold");
        }
        const auto values = t.dtype() == DType::kFloat64
                                ? t.to_vector<double>()
                                : t.to(DType::kFloat64).to_vector<double>();
        out.insert(out.end(), values.begin(), values.end());
        break;
      }
      default:
        fail(ErrorCode::kInvalidArgument, where, ": input '", in->name(), "' is a ",
             feature_value_kind_name(value.kind()), "; the model takes numbers or arrays");
    }
  }
  return out;
}

const spec::FeatureDescription& Interface::output(const std::string& name) const {
  if (outputs.empty()) fail(ErrorCode::kParse, where, ": the model declares no outputs");
  if (name.empty()) return *outputs.front();
  for (const auto* f : outputs) {
    if (f->name() == name) return *f;
  }
  fail(ErrorCode::kParse, where, ": no output named '", name, "' is declared");
}

void write_numbers(Features& features, const spec::FeatureDescription& out,
                   const std::vector<double>& values, const std::string& where) {
  const spec::FeatureType& type = out.type();
  if (type.has_double_type() || type.has_int64_type()) {
    if (values.empty()) {
      fail(ErrorCode::kInvalidArgument, where, ": output '", out.name(), "' has no value");
    }
    features[out.name()] = type.has_double_type()
                               ? FeatureValue(values.front())
                               : FeatureValue(static_cast<int64_t>(values.front()));
    return;
  }
  if (!type.has_multi_array_type()) {
    fail(ErrorCode::kUnsupported, where, ": output '", out.name(),
         "' is declared neither a number nor a multi-array");
  }
  std::vector<int64_t> shape(type.multi_array_type().shape().begin(),
                             type.multi_array_type().shape().end());
  int64_t declared = shape.empty() ? -1 : 1;
  for (int64_t d : shape) declared = d > 0 && declared > 0 ? declared * d : -1;
  if (declared != static_cast<int64_t>(values.size())) {
    shape = {static_cast<int64_t>(values.size())};
  }
  Tensor tensor = Tensor::from_vector(values, shape);
  const DType dtype = array_dtype(type.multi_array_type().data_type());
  features[out.name()] = dtype == DType::kFloat64 ? tensor : tensor.to(dtype);
}

FeatureValue ClassLabels::label(size_t index) const {
  if (integer) return FeatureValue(ints.at(index));
  return FeatureValue(strings.at(index));
}

FeatureValue ClassLabels::dictionary(const std::vector<double>& scores) const {
  if (integer) {
    Int64Dictionary d;
    for (size_t i = 0; i < ints.size() && i < scores.size(); ++i) d[ints[i]] = scores[i];
    return FeatureValue(std::move(d));
  }
  StringDictionary d;
  for (size_t i = 0; i < strings.size() && i < scores.size(); ++i) d[strings[i]] = scores[i];
  return FeatureValue(std::move(d));
}

void write_classification(Features& features, const Interface& interface, const ClassLabels& labels,
                          const std::vector<double>& scores) {
  if (scores.empty() || labels.size() != scores.size()) {
    fail(ErrorCode::kInternal, interface.where, ": ", scores.size(), " scores for ", labels.size(),
         " classes");
  }
  const size_t top = static_cast<size_t>(
      std::distance(scores.begin(), std::max_element(scores.begin(), scores.end())));
  features[interface.label_output] = labels.label(top);
  if (!interface.probabilities_output.empty()) {
    features[interface.probabilities_output] = labels.dictionary(scores);
  }
}

void check_range(int64_t value, int64_t lower, int64_t upper, const std::string& where,
                 const char* field) {
  if (value < lower || value > upper) {
    fail(ErrorCode::kParse, where, ": ", field, " is ", value, ", expected ", lower, "..", upper);
  }
}

}  // namespace coreml::classic
