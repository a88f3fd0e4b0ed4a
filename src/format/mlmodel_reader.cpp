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
#include "format/mlmodel_classic_description.h"
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
// Our schema declares mlProgram, the NeuralNetwork types, the pipelines and the classic types;
// the others arrive as
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

std::string_view model_type_name(int field_number) {
  for (const auto& [number, name] : kModelTypes) {
    if (number == field_number) return name;
  }
  return {};
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

[[noreturn]] void fail_not_ml_program(const spec::Model& model, const std::string& source) {
  const UnknownFieldSet& unknown = model.GetReflection()->GetUnknownFields(model);
  const UnknownField* type_field = find_type_field(unknown);
  if (type_field == nullptr) {
    fail(ErrorCode::kParse, source, ": not a Core ML model (no model type is set)");
  }
  const std::string_view name = model_type_name(type_field->number());
  fail(ErrorCode::kUnsupported, source, ": model type ", name,
       " is not supported (ML Programs, pipelines and the classic model types are)");
}

// The model-type fields our schema declares that are set (in field order).
std::vector<int> declared_type_fields(const spec::Model& model) {
  std::vector<const google::protobuf::FieldDescriptor*> set;
  model.GetReflection()->ListFields(model, &set);
  std::vector<int> numbers;
  for (const auto* field : set) {
    if (!model_type_name(field->number()).empty()) numbers.push_back(field->number());
  }
  return numbers;
}

}  // namespace

std::string_view model_type_name(const spec::Model& model) {
  const std::vector<int> types = declared_type_fields(model);
  if (!types.empty()) return model_type_name(types[0]);
  const UnknownField* type_field = find_type_field(model.GetReflection()->GetUnknownFields(model));
  return type_field ? model_type_name(type_field->number()) : std::string_view();
}

spec::Model parse_model_protobuf(std::string_view serialized, const std::string& source) {
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
  return model;
}

ModelSpec read_model_spec(std::string_view serialized, const std::string& source) {
  return read_model_spec(parse_model_protobuf(serialized, source), source);
}

ModelSpec read_model_spec(spec::Model model, const std::string& source) {
  const std::vector<int> types = declared_type_fields(model);
  if (types.size() > 1) {
    fail(ErrorCode::kParse, source, ": model sets ", types.size(), " model types (",
         model_type_name(types[0]), ", ", model_type_name(types[1]),
         (types.size() > 2 ? ", ..." : ""), "); a model has exactly one");
  }
  if (types.empty()) fail_not_ml_program(model, source);
  if (model.has_neural_network() || model.has_neural_network_classifier() ||
      model.has_neural_network_regressor()) {
    ModelSpec out;
    out.program = translate_neural_network(model, source);
    out.description = detail::convert_description(model, out.program, source);
    out.description.model_type = model.has_neural_network()              ? "neuralNetwork"
                                 : model.has_neural_network_classifier() ? "neuralNetworkClassifier"
                                                                         : "neuralNetworkRegressor";
    return out;
  }
  if (!model.has_ml_program()) {
    // Pipelines and classic types: src/model dispatches on the type; sub-models are read there.
    ModelSpec out;
    out.description = detail::convert_classic_description(model, source);
    out.model = std::make_shared<const spec::Model>(std::move(model));
    return out;
  }
  ModelSpec out;
  out.program = detail::convert_program(*model.mutable_ml_program(), source);
  out.description = detail::convert_description(model, out.program, source);
  return out;
}

}  // namespace coreml::format
