// dictVectorizer: a dictionary -> a vector with each known key's value at that key's position
// in the model's key list (unknown keys are dropped); an int64-keyed dictionary output keeps
// only the entries present.
#include <map>

#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class DictVectorizer final : public Evaluator {
 public:
  DictVectorizer(const spec::Model& model, const std::string& source)
      : interface_(model, source, "dictVectorizer") {
    const auto& dv = model.dict_vectorizer();
    int64_t i = 0;
    for (const auto& s : dv.string_to_index().vector()) strings_.emplace(s, i++);
    for (int64_t v : dv.int64_to_index().vector()) ints_.emplace(v, i++);
    size_ = i;
    if (size_ == 0) fail(ErrorCode::kParse, interface_.where, ": the key list is empty");
    sparse_ = interface_.output().type().has_dictionary_type();
  }

  void evaluate(Features& features) const override {
    const auto& name = interface_.inputs.front()->name();
    const FeatureValue& value = interface_.input(features, name);
    std::map<int64_t, double> entries;
    if (value.kind() == FeatureValue::Kind::kStringDictionary) {
      for (const auto& [key, v] : value.as_string_dictionary()) {
        const auto it = strings_.find(key);
        if (it != strings_.end()) entries[it->second] = v;
      }
    } else if (value.kind() == FeatureValue::Kind::kInt64Dictionary) {
      for (const auto& [key, v] : value.as_int64_dictionary()) {
        const auto it = ints_.find(key);
        if (it != ints_.end()) entries[it->second] = v;
      }
    } else {
      fail(ErrorCode::kInvalidArgument, interface_.where, ": input '", name, "' is a ",
           feature_value_kind_name(value.kind()), ", expected a dictionary");
    }
    const auto& out = interface_.output();
    if (sparse_) {
      features[out.name()] = Int64Dictionary(entries.begin(), entries.end());
      return;
    }
    std::vector<double> y(static_cast<size_t>(size_), 0.0);
    for (const auto& [index, v] : entries) y[static_cast<size_t>(index)] = v;
    write_numbers(features, out, y, interface_.where);
  }

 private:
  Interface interface_;
  std::map<std::string, int64_t> strings_;
  std::map<int64_t, int64_t> ints_;
  int64_t size_ = 0;
  bool sparse_ = false;
};

}  // namespace

std::unique_ptr<Evaluator> make_dict_vectorizer(const spec::Model& model,
                                                const std::string& source) {
  return std::make_unique<DictVectorizer>(model, source);
}

}  // namespace coreml::classic
