// oneHotEncoder: a string or int64 category -> a vector with 1 at the category's position
// (a dense array, or with outputSparse an int64-keyed dictionary holding only that entry).
// Unknown categories are an error, or all zeros with handleUnknown IgnoreUnknown.
#include <map>

#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

constexpr int kIgnoreUnknown = 1;

class OneHotEncoder final : public Evaluator {
 public:
  OneHotEncoder(const spec::Model& model, const std::string& source)
      : interface_(model, source, "oneHotEncoder") {
    const auto& ohe = model.one_hot_encoder();
    check_range(ohe.handle_unknown(), 0, 1, interface_.where, "handleUnknown");
    ignore_unknown_ = ohe.handle_unknown() == kIgnoreUnknown;
    sparse_ = ohe.output_sparse() || interface_.output().type().has_dictionary_type();
    int64_t i = 0;
    for (const auto& s : ohe.string_categories().vector()) strings_.emplace(s, i++);
    for (int64_t v : ohe.int64_categories().vector()) ints_.emplace(v, i++);
    size_ = i;
    if (size_ == 0) fail(ErrorCode::kParse, interface_.where, ": no categories");
  }

  void evaluate(Features& features) const override {
    const FeatureValue& value = interface_.input(features, interface_.inputs.front()->name());
    int64_t index = -1;
    if (value.kind() == FeatureValue::Kind::kString) {
      const auto it = strings_.find(value.as_string());
      if (it != strings_.end()) index = it->second;
    } else {
      const auto values = interface_.input_vector(features);
      if (values.size() != 1) {
        fail(ErrorCode::kInvalidArgument, interface_.where, ": the input has ", values.size(),
             " values; one category is encoded at a time");
      }
      const auto it = ints_.find(static_cast<int64_t>(values[0]));
      if (it != ints_.end()) index = it->second;
    }
    if (index < 0 && !ignore_unknown_) {
      fail(ErrorCode::kInvalidArgument, interface_.where, ": input '",
           interface_.inputs.front()->name(), "' is not one of the ", size_, " categories");
    }
    const auto& out = interface_.output();
    if (sparse_) {
      Int64Dictionary d;
      if (index >= 0) d[index] = 1.0;
      features[out.name()] = std::move(d);
      return;
    }
    std::vector<double> y(static_cast<size_t>(size_), 0.0);
    if (index >= 0) y[static_cast<size_t>(index)] = 1.0;
    write_numbers(features, out, y, interface_.where);
  }

 private:
  Interface interface_;
  std::map<std::string, int64_t> strings_;
  std::map<int64_t, int64_t> ints_;
  int64_t size_ = 0;
  bool ignore_unknown_ = false;
  bool sparse_ = false;
};

}  // namespace

std::unique_ptr<Evaluator> make_one_hot_encoder(const spec::Model& model,
                                                const std::string& source) {
  return std::make_unique<OneHotEncoder>(model, source);
}

}  // namespace coreml::classic
