// Fuzzes the .mlmodel protobuf reader: any bytes must either read or throw coreml::Error. For
// pipelines and classic models, every classic model inside is also built and evaluated on
// made-up inputs of its declared kinds (bounded sizes), which must likewise succeed or throw.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "classic/evaluator.h"
#include "coreml/error.h"
#include "format/mlmodel_reader.h"
#include "proto/coreml.pb.h"

namespace {

constexpr int64_t kMaxFuzzTensorElements = 4096;

coreml::FeatureValue made_up_value(const coreml::spec::FeatureType& type) {
  if (type.has_double_type()) return 0.25;
  if (type.has_int64_type()) return int64_t{1};
  if (type.has_string_type()) return "a";
  if (type.has_dictionary_type()) {
    if (type.dictionary_type().has_int64_key_type()) return coreml::Int64Dictionary{{0, 1.0}};
    return coreml::StringDictionary{{"a", 1.0}};
  }
  int64_t numel = 1;
  for (int64_t d : type.multi_array_type().shape()) {
    if (d <= 0 || d > kMaxFuzzTensorElements || numel * d > kMaxFuzzTensorElements) return 0.5;
    numel *= d;
  }
  std::vector<double> values(static_cast<size_t>(numel));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 7) - 3.0;
  return coreml::Tensor::from_vector(values);
}

void evaluate_classic(const coreml::spec::Model& model, int depth) {
  if (depth > 8) return;
  const coreml::spec::Pipeline* pipeline =
      model.has_pipeline()              ? &model.pipeline()
      : model.has_pipeline_classifier() ? &model.pipeline_classifier().pipeline()
      : model.has_pipeline_regressor()  ? &model.pipeline_regressor().pipeline()
                                        : nullptr;
  if (pipeline) {
    for (const auto& inner : pipeline->models()) evaluate_classic(inner, depth + 1);
    return;
  }
  try {
    const auto evaluator = coreml::classic::make_evaluator(model, "fuzz.mlmodel");
    if (!evaluator) return;
    coreml::classic::Features features;
    for (const auto& input : model.description().input()) {
      features[input.name()] = made_up_value(input.type());
    }
    evaluator->evaluate(features);
  } catch (const coreml::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto spec = coreml::format::read_model_spec(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.mlmodel");
    // Touch what was read so that conversions cannot be optimized away.
    for (const auto& function : spec.program.functions) {
      (void)coreml::mil::count_operations(function.block);
    }
    if (spec.model) evaluate_classic(*spec.model, 0);
  } catch (const coreml::Error&) {
  }
  return 0;
}
