// What a model declares about itself: the data `coreml info` prints, read from any container.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

namespace coreml {

enum class FeatureKind {
  kTensor,
  kState,
  kImage,
  kInt64,
  kDouble,
  kString,
  kDictionary,
  kSequence
};

// "tensor", "state", "image", "int64", "double", "string", "dictionary", "sequence".
const char* feature_kind_name(FeatureKind kind);

// One allowed range of a flexible dimension; upper -1 = unbounded.
struct DimRange {
  int64_t lower = 0;
  int64_t upper = -1;
};

struct FeatureDescription {
  std::string name;
  std::string short_description;
  FeatureKind kind = FeatureKind::kTensor;
  std::string dtype;           // MIL name: fp16, fp32, int32, ... ("" for non-array features)
  std::vector<int64_t> shape;  // declared (default) shape; -1 = unknown dimension
  std::vector<std::vector<int64_t>> enumerated_shapes;  // empty unless enumerated
  std::vector<DimRange> shape_ranges;                   // empty unless ranged (one per dim)
  bool optional = false;
  // Images only.
  int64_t width = 0;
  int64_t height = 0;
  std::string color_space;  // "GRAYSCALE", "RGB", "BGR", "GRAYSCALE_FLOAT16"
  // Dictionaries (key type "string" or "int64"; values are doubles) and sequences (element type).
  std::string key_type;
};

// One model inside a pipeline (nested pipelines are listed depth first, depth 1 = top level).
struct PipelineStage {
  std::string name;        // the pipeline's name for it, if any
  std::string model_type;  // "scaler", "glmClassifier", "mlProgram", "pipeline", ...
  int depth = 1;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
};

struct FunctionDescription {
  std::string name;
  std::string opset;  // "CoreML8" etc.
  std::vector<FeatureDescription> inputs;
  std::vector<FeatureDescription> outputs;
  std::vector<FeatureDescription> states;
  std::map<std::string, int64_t> op_counts;  // by op type, nested blocks included
};

struct ModelMetadata {
  std::string author;
  std::string license;
  std::string version;
  std::string description;
  std::map<std::string, std::string> user;
};

struct WeightsSummary {
  bool present = false;              // every referenced weight file exists
  int64_t files = 0;                 // weight files referenced by the program
  int64_t blobs = 0;                 // distinct blob records referenced
  int64_t bytes = 0;                 // data bytes of those blobs (0 when files are missing)
  std::vector<std::string> missing;  // referenced files that are absent
  std::string error;                 // why the weight files could not be read, if so
};

struct ModelDescription {
  std::string path;    // as given to the reader
  std::string format;  // "mlpackage", "mlmodel", "mlmodelc"
  int specification_version = 0;
  std::string model_type = "mlProgram";
  std::string default_function;
  std::vector<FunctionDescription> functions;
  ModelMetadata metadata;
  WeightsSummary weights;
  std::string compute_precision;  // from mlmodelc metadata.json, when present
  // Classifiers (any model type): the label output, the probabilities output and the labels.
  std::string predicted_feature_name;
  std::string predicted_probabilities_name;
  std::vector<std::string> class_labels;  // integer labels as decimal text
  bool integer_class_labels = false;
  std::vector<PipelineStage> pipeline;  // pipeline model types: their models, in order

  const FunctionDescription* find_function(const std::string& name) const;
};

// The JSON document `coreml info --json` prints (keys documented in the README).
std::string to_json(const ModelDescription& description, int indent = 2);

}  // namespace coreml

COREML_PUBLIC_END
