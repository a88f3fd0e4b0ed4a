// Reads a serialized Core ML Model protobuf: bounded parsing, model-type detection, and
// hand-off to the program and description converters.
#include "format/mlmodel_reader.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>

#include <array>
#include <climits>
#include <string_view>
#include <utility>
#include <vector>

#include "coreml/error.h"
#include "format/mlmodel_description.h"
#include "format/mlmodel_program.h"
#include "format/neural_network/translate.h"
#include "format/protobuf_log.h"
#include "proto/coreml.pb.h"

namespace coreml::format {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// Protobuf message nesting allowed while parsing. A real ML Program needs about 15 levels
// plus 2 per nested block and 3 per nested tuple/list value; 100 is far beyond that yet keeps
// the parser's recursion (and stack) small on hostile input.
constexpr int kMaxProtobufNesting = 100;

// Members of Model's oneof `Type`, by field number: coremltools 9.0, Model_pb2.Model.DESCRIPTOR.
// Our schema declares mlProgram (502) and the NeuralNetwork types; the others arrive as
// unknown fields.
constexpr std::array<std::pair<int, std::string_view>, 37> kModelTypes{{
    {200, "pipelineClassifier"},
    {201, "pipelineRegressor"},
    {202, "pipeline"},
    {300, "glmRegressor"},
    {301, "supportVectorRegressor"},
    {302, "treeEnsembleRegressor"},
    {303, "neuralNetworkRegressor"},
    {304, "bayesianProbitRegressor"},
    {400, "glmClassifier"},
    {401, "supportVectorClassifier"},
    {402, "treeEnsembleClassifier"},
    {403, "neuralNetworkClassifier"},
    {404, "kNearestNeighborsClassifier"},
    {500, "neuralNetwork"},
    {501, "itemSimilarityRecommender"},
    {502, "mlProgram"},
    {555, "customModel"},
    {556, "linkedModel"},
    {560, "classConfidenceThresholding"},
    {600, "oneHotEncoder"},
    {601, "imputer"},
    {602, "featureVectorizer"},
    {603, "dictVectorizer"},
    {604, "scaler"},
    {606, "categoricalMapping"},
    {607, "normalizer"},
    {609, "arrayFeatureExtractor"},
    {610, "nonMaximumSuppression"},
    {900, "identity"},
    {2000, "textClassifier"},
    {2001, "wordTagger"},
    {2002, "visionFeaturePrint"},
    {2003, "soundAnalysisPreprocessing"},
    {2004, "gazetteer"},
    {2005, "wordEmbedding"},
    {2006, "audioFeaturePrint"},
    {3000, "serializedModel"},
}};

constexpr int kPipelineClassifier = 200;
constexpr int kPipelineRegressor = 201;
constexpr int kPipeline = 202;
constexpr int kPipelineModels = 1;          // Pipeline.models (repeated Model)
constexpr int kPipelineOfClassifier = 1;    // PipelineClassifier/Regressor.pipeline
constexpr int kMaxPipelineDepth = 4;        // how deep we look when naming sub-models
constexpr size_t kMaxListedSubModels = 16;  // keep the message readable

std::string_view model_type_name(int field_number) {
  for (const auto& [number, name] : kModelTypes) {
    if (number == field_number) return name;
  }
  return {};
}

bool parse_unknown(const std::string& bytes, UnknownFieldSet& out) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return false;
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetRecursionLimit(kMaxProtobufNesting);
  ProtobufLogCapture quiet;  // a failure here is reported by the caller
  return out.MergeFromCodedStream(&coded) && coded.ConsumedEntireMessage();
}

// The first model-type field in a Model's fields (all unknown to a generic parse).
const UnknownField* find_type_field(const UnknownFieldSet& fields) {
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    if (field.type() == UnknownField::TYPE_LENGTH_DELIMITED &&
        !model_type_name(field.number()).empty()) {
      return &field;
    }
  }
  return nullptr;
}

std::string describe_model_type(const UnknownField& type_field, int depth);

// Names the models inside a pipeline's bytes: "neuralNetwork, mlProgram".
std::string describe_pipeline(const std::string& pipeline_bytes, int depth) {
  UnknownFieldSet pipeline;
  if (depth > kMaxPipelineDepth || !parse_unknown(pipeline_bytes, pipeline)) return "?";
  std::string listed;
  size_t count = 0;
  for (int i = 0; i < pipeline.field_count(); ++i) {
    const UnknownField& field = pipeline.field(i);
    if (field.number() != kPipelineModels || field.type() != UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    if (++count > kMaxListedSubModels) {
      listed += ", ...";
      break;
    }
    UnknownFieldSet model;
    const UnknownField* type_field =
        parse_unknown(field.length_delimited(), model) ? find_type_field(model) : nullptr;
    if (!listed.empty()) listed += ", ";
    listed += type_field ? describe_model_type(*type_field, depth + 1) : "?";
  }
  return listed.empty() ? "no models" : listed;
}

// For the pipeline model types, the types of the models inside ("neuralNetwork, mlProgram");
// "" for other types.
std::string pipeline_contents(const UnknownField& type_field, int depth) {
  const std::string& bytes = type_field.length_delimited();
  if (type_field.number() == kPipeline) return describe_pipeline(bytes, depth);
  if (type_field.number() != kPipelineClassifier && type_field.number() != kPipelineRegressor) {
    return {};
  }
  UnknownFieldSet wrapper;
  if (depth > kMaxPipelineDepth || !parse_unknown(bytes, wrapper)) return "?";
  for (int i = 0; i < wrapper.field_count(); ++i) {
    const UnknownField& field = wrapper.field(i);
    if (field.number() == kPipelineOfClassifier &&
        field.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      return describe_pipeline(field.length_delimited(), depth + 1);
    }
  }
  return "no models";
}

// "neuralNetwork", or for pipelines "pipeline [neuralNetwork, mlProgram]".
std::string describe_model_type(const UnknownField& type_field, int depth) {
  std::string text(model_type_name(type_field.number()));
  const std::string contents = pipeline_contents(type_field, depth);
  if (!contents.empty()) text += " [" + contents + "]";
  return text;
}

[[noreturn]] void fail_not_ml_program(const spec::Model& model, const std::string& source) {
  const UnknownFieldSet& unknown = model.GetReflection()->GetUnknownFields(model);
  const UnknownField* type_field = find_type_field(unknown);
  if (type_field == nullptr) {
    fail(ErrorCode::kParse, source, ": not a Core ML model (no model type is set)");
  }
  const std::string_view name = model_type_name(type_field->number());
  const std::string contents = pipeline_contents(*type_field, 0);
  if (!contents.empty()) {
    fail(ErrorCode::kUnsupported, source, ": model type ", name,
         " is not supported (only ML Programs); its models: ", contents);
  }
  fail(ErrorCode::kUnsupported, source, ": model type ", name,
       " is not supported (only ML Programs)");
}

}  // namespace

ModelSpec read_model_spec(std::string_view serialized, const std::string& source) {
  // ArrayInputStream counts in int; 2 GiB is also protobuf's own hard message limit.
  if (serialized.size() > static_cast<size_t>(INT_MAX)) {
    fail(ErrorCode::kUnsupported, source, ": model protobuf of ", serialized.size(),
         " bytes is larger than the 2 GiB protobuf limit");
  }
  spec::Model model;
  google::protobuf::io::ArrayInputStream stream(serialized.data(),
                                                static_cast<int>(serialized.size()));
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetRecursionLimit(kMaxProtobufNesting);
  ProtobufLogCapture protobuf_log;
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    // What libprotobuf logged (e.g. which string field holds invalid UTF-8) joins our line.
    if (!protobuf_log.text().empty()) {
      fail(ErrorCode::kParse, source, ": not a Core ML model protobuf", protobuf_log.suffix());
    }
    fail(ErrorCode::kParse, source,
         ": not a Core ML model protobuf (malformed or truncated data, invalid UTF-8 in a "
         "string, or messages nested deeper than ",
         kMaxProtobufNesting, " levels)");
  }
  ModelSpec out;
  if (model.has_neural_network() || model.has_neural_network_classifier() ||
      model.has_neural_network_regressor()) {
    out.program = translate_neural_network(model, source);
    out.description = detail::convert_description(model, out.program, source);
    out.description.model_type = model.has_neural_network()              ? "neuralNetwork"
                                 : model.has_neural_network_classifier() ? "neuralNetworkClassifier"
                                                                         : "neuralNetworkRegressor";
    return out;
  }
  if (!model.has_ml_program()) fail_not_ml_program(model, source);

  out.program = detail::convert_program(model.ml_program(), source);
  out.description = detail::convert_description(model, out.program, source);
  return out;
}

}  // namespace coreml::format
