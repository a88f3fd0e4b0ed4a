// The one entry point that reads any Core ML container (.mlpackage, .mlmodel, .mlmodelc)
// into the program IR plus its description.
#pragma once

#include <filesystem>
#include <memory>

#include "coreml/description.h"
#include "format/weight_file.h"
#include "mil/ir.h"

namespace coreml::spec {
class Model;
}

namespace coreml::format {

// A model read from disk: what it declares, its program, and lazy access to its weights.
struct ModelAsset {
  ModelDescription description;
  mil::Program program;
  std::filesystem::path model_dir;       // the folder "@model_path" refers to
  std::shared_ptr<WeightStore> weights;  // maps weight files on first use
  // Pipelines and classic model types: the protobuf (program empty); src/model builds the
  // model from it. ML Program sub-models of a pipeline keep their weights in model_dir.
  std::shared_ptr<const spec::Model> spec;
};

// An ML Program sub-model of a pipeline as an asset of its own: its program, description and
// the weights of the package around it (`parent`). Throws coreml::Error naming `source`.
ModelAsset read_sub_model(const spec::Model& model, const ModelAsset& parent,
                          const std::string& source);

// Reads `path`, detecting the container from what is on disk. Weight files are not needed
// (their absence is reported in description.weights); everything else must be well formed.
// Throws coreml::Error naming the file and what was wrong.
ModelAsset read_model(const std::filesystem::path& path);

}  // namespace coreml::format
