// coreml::FeatureValue accessors.
#include "coreml/feature_value.h"

#include "coreml/error.h"

namespace coreml {

const char* feature_value_kind_name(FeatureValue::Kind kind) {
  switch (kind) {
    case FeatureValue::Kind::kTensor: return "tensor";
    case FeatureValue::Kind::kInt64: return "int64";
    case FeatureValue::Kind::kDouble: return "double";
    case FeatureValue::Kind::kString: return "string";
    case FeatureValue::Kind::kStringDictionary: return "dictionary<string,double>";
    case FeatureValue::Kind::kInt64Dictionary: return "dictionary<int64,double>";
  }
  return "unknown";
}

namespace {

template <typename T, typename Variant>
const T& get_or_fail(const Variant& value, FeatureValue::Kind held, FeatureValue::Kind wanted) {
  if (const T* v = std::get_if<T>(&value)) return *v;
  fail(ErrorCode::kInvalidArgument, "the feature value is a ", feature_value_kind_name(held),
       ", not a ", feature_value_kind_name(wanted));
}

}  // namespace

const Tensor& FeatureValue::tensor() const {
  return get_or_fail<Tensor>(value_, kind(), Kind::kTensor);
}

int64_t FeatureValue::as_int64() const {
  return get_or_fail<int64_t>(value_, kind(), Kind::kInt64);
}

double FeatureValue::as_double() const {
  if (const auto* i = std::get_if<int64_t>(&value_)) return static_cast<double>(*i);
  return get_or_fail<double>(value_, kind(), Kind::kDouble);
}

const std::string& FeatureValue::as_string() const {
  return get_or_fail<std::string>(value_, kind(), Kind::kString);
}

const StringDictionary& FeatureValue::as_string_dictionary() const {
  return get_or_fail<StringDictionary>(value_, kind(), Kind::kStringDictionary);
}

const Int64Dictionary& FeatureValue::as_int64_dictionary() const {
  return get_or_fail<Int64Dictionary>(value_, kind(), Kind::kInt64Dictionary);
}

}  // namespace coreml
