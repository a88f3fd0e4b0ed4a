// Models that are not one ML Program function: pipelines and the classic model types. Each
// (sub-)model becomes a Stage that reads its inputs from a feature map by name and adds its
// outputs; make_stage is the one dispatch on a model's type.
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"
#include "classic/evaluator.h"
#include "format/model_reader.h"

namespace coreml::model_detail {

using Features = classic::Features;

class Stage {
 public:
  virtual ~Stage() = default;
  virtual void run(Features& features) = 0;
};

// What ML Program sub-models need: the package they live in (their weights) and the backend.
struct StageContext {
  const format::ModelAsset* top = nullptr;
  const backends::BackendInterface* backend = nullptr;
  ComputeUnits compute_units = ComputeUnits::kAll;
  int threads = 0;
};

// `source` names the model in errors ("file.mlmodel", "file.mlmodel: pipeline model 2").
// Throws coreml::Error naming any model type that cannot run, at load.
std::unique_ptr<Stage> make_stage(const spec::Model& model, const StageContext& context,
                                  const std::string& source);

}  // namespace coreml::model_detail
