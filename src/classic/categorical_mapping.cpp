// categoricalMapping: string -> int64 or int64 -> string by the model's table; an unknown key
// gives the model's valueOnUnknown, or is an error when it has none.
#include <map>

#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class CategoricalMapping final : public Evaluator {
 public:
  CategoricalMapping(const spec::Model& model, const std::string& source)
      : interface_(model, source, "categoricalMapping"), mapping_(model.categorical_mapping()) {
    for (const auto& e : mapping_.string_to_int64_map().map()) to_int_.emplace(e.key(), e.value());
    for (const auto& e : mapping_.int64_to_string_map().map())
      to_string_.emplace(e.key(), e.value());
    if (mapping_.mapping_type_case() == spec::CategoricalMapping::MAPPING_TYPE_NOT_SET) {
      fail(ErrorCode::kParse, interface_.where, ": no mapping is set");
    }
  }

  void evaluate(Features& features) const override {
    const auto& name = interface_.inputs.front()->name();
    const FeatureValue& value = interface_.input(features, name);
    const auto& out = interface_.output().name();
    if (mapping_.has_string_to_int64_map()) {
      const auto it = to_int_.find(value.as_string());
      if (it != to_int_.end()) {
        features[out] = it->second;
      } else if (mapping_.has_int64_value()) {
        features[out] = mapping_.int64_value();
      } else {
        fail(ErrorCode::kInvalidArgument, interface_.where, ": '", value.as_string(),
             "' is not in the mapping and the model gives no value for unknown keys");
      }
      return;
    }
    const int64_t key = value.is_tensor()
                            ? static_cast<int64_t>(interface_.input_vector(features).at(0))
                            : value.as_int64();
    const auto it = to_string_.find(key);
    if (it != to_string_.end()) {
      features[out] = it->second;
    } else if (mapping_.has_str_value()) {
      features[out] = mapping_.str_value();
    } else {
      fail(ErrorCode::kInvalidArgument, interface_.where, ": ", key,
           " is not in the mapping and the model gives no value for unknown keys");
    }
  }

 private:
  Interface interface_;
  spec::CategoricalMapping mapping_;
  std::map<std::string, int64_t> to_int_;
  std::map<int64_t, std::string> to_string_;
};

}  // namespace

std::unique_ptr<Evaluator> make_categorical_mapping(const spec::Model& model,
                                                    const std::string& source) {
  return std::make_unique<CategoricalMapping>(model, source);
}

}  // namespace coreml::classic
