// coreml::FeatureValue: one value of a Core ML feature that need not be a tensor — the int64,
// double, string and dictionary features of classic models (scikit-learn, libsvm, XGBoost
// conversions) and pipelines, besides multi-arrays.
//
//   coreml::FeatureInputs in{{"age", 42.0}, {"city", "Paris"},
//                            {"counts", coreml::StringDictionary{{"a", 1.0}}}};
//   coreml::Outputs out = model.predict_features(in);
//   double price = out.value("price").as_double();
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include "coreml/export.h"
#include "coreml/tensor.h"

COREML_PUBLIC_BEGIN

namespace coreml {

using StringDictionary = std::map<std::string, double>;  // Core ML dictionary, string keys
using Int64Dictionary = std::map<int64_t, double>;       // Core ML dictionary, int64 keys

class FeatureValue {
 public:
  enum class Kind { kTensor, kInt64, kDouble, kString, kStringDictionary, kInt64Dictionary };

  FeatureValue() : value_(0.0) {}
  FeatureValue(Tensor tensor) : value_(std::move(tensor)) {}  // NOLINT: implicit on purpose
  FeatureValue(int64_t v) : value_(v) {}                      // NOLINT
  FeatureValue(int v) : value_(static_cast<int64_t>(v)) {}    // NOLINT
  FeatureValue(double v) : value_(v) {}                       // NOLINT
  FeatureValue(std::string v) : value_(std::move(v)) {}       // NOLINT
  FeatureValue(const char* v) : value_(std::string(v)) {}     // NOLINT
  FeatureValue(StringDictionary v) : value_(std::move(v)) {}  // NOLINT
  FeatureValue(Int64Dictionary v) : value_(std::move(v)) {}   // NOLINT

  Kind kind() const { return static_cast<Kind>(value_.index()); }
  bool is_tensor() const { return kind() == Kind::kTensor; }

  // Each accessor throws coreml::Error (kInvalidArgument) naming both kinds when the value
  // holds another kind.
  const Tensor& tensor() const;
  int64_t as_int64() const;
  double as_double() const;  // also an int64's value
  const std::string& as_string() const;
  const StringDictionary& as_string_dictionary() const;
  const Int64Dictionary& as_int64_dictionary() const;

 private:
  // Order matches Kind.
  std::variant<Tensor, int64_t, double, std::string, StringDictionary, Int64Dictionary> value_;
};

// "tensor", "int64", "double", "string", "dictionary<string,double>", "dictionary<int64,double>".
const char* feature_value_kind_name(FeatureValue::Kind kind);

// Inputs of any feature kind, by name (Model::predict_features).
using FeatureInputs = std::map<std::string, FeatureValue>;

}  // namespace coreml

COREML_PUBLIC_END
