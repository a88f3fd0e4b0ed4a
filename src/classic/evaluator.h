// The classic (non-neural) Core ML model types: scikit-learn, libsvm and XGBoost conversions.
// Each type is one Evaluator (one file each), made from the model's protobuf by make_evaluator.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "coreml/feature_value.h"

namespace coreml::spec {
class Model;
}

namespace coreml::classic {

// Feature values by name: a pipeline's inputs plus every output computed so far.
using Features = std::map<std::string, FeatureValue>;

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Reads the model's inputs from `features` by name and adds its outputs to it. Throws
  // coreml::Error naming the model and the feature when an input is missing or of a wrong kind.
  virtual void evaluate(Features& features) const = 0;
};

// The evaluator of a classic model type, its parameters checked (indices, counts, sizes) at
// construction; nullptr when `model` is not a classic type. `source` names the model in errors.
std::unique_ptr<Evaluator> make_evaluator(const spec::Model& model, const std::string& source);

}  // namespace coreml::classic
