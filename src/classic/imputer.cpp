// imputer: replaces missing values (replaceValue, NaN when unset) by the imputed value: one
// double for every element, one double per element, an int64 or a string.
#include <cmath>

#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class Imputer final : public Evaluator {
 public:
  Imputer(const spec::Model& model, const std::string& source)
      : interface_(model, source, "imputer"), imputer_(model.imputer()) {
    using P = spec::Imputer;
    switch (imputer_.imputed_value_case()) {
      case P::kImputedDoubleValue:
      case P::kImputedDoubleArray:
      case P::kImputedInt64Value:
      case P::kImputedStringValue: break;
      case P::IMPUTED_VALUE_NOT_SET:
        fail(ErrorCode::kParse, interface_.where, ": no imputed value is set");
      default:
        fail(ErrorCode::kUnsupported, interface_.where,
             ": imputing int64 arrays or dictionaries is not supported (double, double array, "
             "int64 and string values are)");
    }
    imputed_.assign(imputer_.imputed_double_array().vector().begin(),
                    imputer_.imputed_double_array().vector().end());
  }

  void evaluate(Features& features) const override {
    const auto& name = interface_.inputs.front()->name();
    const FeatureValue& value = interface_.input(features, name);
    const spec::FeatureDescription& out = interface_.output();
    if (imputer_.has_imputed_int64_value()) {
      const int64_t missing = imputer_.replace_int64_value();
      features[out.name()] =
          value.as_int64() == missing ? imputer_.imputed_int64_value() : value.as_int64();
      return;
    }
    if (imputer_.has_imputed_string_value()) {
      const std::string& missing = imputer_.replace_string_value();
      features[out.name()] =
          value.as_string() == missing ? imputer_.imputed_string_value() : value.as_string();
      return;
    }
    std::vector<double> x = interface_.input_vector(features);
    const bool nan =
        !imputer_.has_replace_double_value() || std::isnan(imputer_.replace_double_value());
    if (imputer_.has_imputed_double_array() && imputed_.size() != x.size()) {
      fail(ErrorCode::kInvalidArgument, interface_.where, ": imputedDoubleArray has ",
           imputed_.size(), " values, the input ", x.size());
    }
    for (size_t i = 0; i < x.size(); ++i) {
      const bool is_missing = nan ? std::isnan(x[i]) : x[i] == imputer_.replace_double_value();
      if (is_missing) {
        x[i] = imputer_.has_imputed_double_array() ? imputed_[i] : imputer_.imputed_double_value();
      }
    }
    write_numbers(features, out, x, interface_.where);
  }

 private:
  Interface interface_;
  spec::Imputer imputer_;
  std::vector<double> imputed_;
};

}  // namespace

std::unique_ptr<Evaluator> make_imputer(const spec::Model& model, const std::string& source) {
  return std::make_unique<Imputer>(model, source);
}

}  // namespace coreml::classic
