// `coreml run --input NAME=VALUE` for every feature kind, and non-tensor outputs as JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "coreml/description.h"
#include "coreml/feature_value.h"

namespace coreml::cli {

// VALUE is FILE.npy (a tensor); @FILE.json (a JSON number, string or object: a dictionary);
// or text read as the declared feature's kind: a number for double and int64 features, the
// text itself for strings, a JSON object for dictionaries. `declared` may be null (a name the
// model does not declare: the prediction reports it).
FeatureValue parse_feature_input(const std::string& name, const std::string& value,
                                 const FeatureDescription* declared);

// A non-tensor value as JSON: a number, a string, or an object of label -> probability.
nlohmann::ordered_json feature_json(const FeatureValue& value);

}  // namespace coreml::cli
