// featureVectorizer: concatenates the listed inputs into one array; each column gives
// inputDimensions elements: a number (1), an array (all of its elements) or an int64-keyed
// dictionary (sparse: key k sets element k).
#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class FeatureVectorizer final : public Evaluator {
 public:
  FeatureVectorizer(const spec::Model& model, const std::string& source)
      : interface_(model, source, "featureVectorizer") {
    uint64_t total = 0;
    for (const auto& column : model.feature_vectorizer().input_list()) {
      if (column.input_dimensions() > static_cast<uint64_t>(kMaxVectorLength) - total) {
        fail(ErrorCode::kParse, interface_.where,
             ": the columns' inputDimensions add up to more "
             "than ",
             kMaxVectorLength);
      }
      total += column.input_dimensions();
      columns_.emplace_back(column.input_column(), column.input_dimensions());
    }
    if (columns_.empty()) fail(ErrorCode::kParse, interface_.where, ": inputList is empty");
  }

  void evaluate(Features& features) const override {
    std::vector<double> y;
    for (const auto& [name, dims] : columns_) {
      const FeatureValue& value = interface_.input(features, name);
      const size_t start = y.size();
      y.resize(start + dims, 0.0);
      switch (value.kind()) {
        case FeatureValue::Kind::kInt64Dictionary:
          for (const auto& [key, v] : value.as_int64_dictionary()) {
            if (key < 0 || static_cast<uint64_t>(key) >= dims) {
              fail(ErrorCode::kInvalidArgument, interface_.where, ": input '", name, "' has key ",
                   key, ", beyond its ", dims, " dimensions");
            }
            y[start + static_cast<size_t>(key)] = v;
          }
          break;
        case FeatureValue::Kind::kInt64:
        case FeatureValue::Kind::kDouble:
        case FeatureValue::Kind::kTensor: {
          std::vector<double> values;
          if (value.is_tensor()) {
            values = value.tensor().to(DType::kFloat64).to_vector<double>();
          } else {
            values.push_back(value.as_double());
          }
          if (values.size() != dims) {
            fail(ErrorCode::kInvalidArgument, interface_.where, ": input '", name, "' has ",
                 values.size(), " values, inputDimensions says ", dims);
          }
          std::copy(values.begin(), values.end(), y.begin() + static_cast<std::ptrdiff_t>(start));
          break;
        }
        default:
          fail(ErrorCode::kInvalidArgument, interface_.where, ": input '", name, "' is a ",
               feature_value_kind_name(value.kind()));
      }
    }
    write_numbers(features, interface_.output(), y, interface_.where);
  }

 private:
  Interface interface_;
  std::vector<std::pair<std::string, uint64_t>> columns_;
};

}  // namespace

std::unique_ptr<Evaluator> make_feature_vectorizer(const spec::Model& model,
                                                   const std::string& source) {
  return std::make_unique<FeatureVectorizer>(model, source);
}

}  // namespace coreml::classic
