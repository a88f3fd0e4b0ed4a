// make_stage: pipelines run their models in order; ML Program and NeuralNetwork sub-models run
// on the backend like a top-level program; classic types run their evaluator (src/classic).
#include "model/pipeline.h"

#include <optional>
#include <vector>

#include "coreml/error.h"
#include "format/mlmodel_reader.h"
#include "model/input_check.h"
#include "proto/coreml.pb.h"
#include "runtime/classify_labels.h"
#include "runtime/raw_constant.h"

namespace coreml::model_detail {
namespace {

class PipelineStage final : public Stage {
 public:
  explicit PipelineStage(std::vector<std::unique_ptr<Stage>> stages) : stages_(std::move(stages)) {}
  void run(Features& features) override {
    for (auto& stage : stages_) stage->run(features);
  }

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
};

class ClassicStage final : public Stage {
 public:
  explicit ClassicStage(std::unique_ptr<classic::Evaluator> evaluator)
      : evaluator_(std::move(evaluator)) {}
  void run(Features& features) override { evaluator_->evaluate(features); }

 private:
  std::unique_ptr<classic::Evaluator> evaluator_;
};

// An ML Program inside a pipeline: its tensors in, its outputs (a classifier's label and
// probability dictionary as Core ML types them) out.
class ProgramStage final : public Stage {
 public:
  ProgramStage(const spec::Model& model, const StageContext& context, const std::string& source)
      : source_(source),
        asset_(std::make_unique<format::ModelAsset>(
            format::read_sub_model(model, *context.top, source))) {
    function_ = asset_->program.find_function(asset_->description.default_function);
    if (!function_) fail(ErrorCode::kParse, source, ": the program has no default function");
    if (!asset_->description.weights.present) {
      fail(ErrorCode::kNotFound, source, ": weight file missing (running the model needs it)");
    }
    classify_ = runtime::find_classify_op(function_->block);  // before compile takes the ops
    compiled_ = context.backend->compile({.path = source,
                                          .asset = asset_.get(),
                                          .function = function_,
                                          .compute_units = context.compute_units,
                                          .threads = context.threads});
  }

  void run(Features& features) override {
    std::vector<Tensor> bound;
    for (const auto& in : function_->inputs) {
      if (in.type.kind == mil::Type::Kind::kState) {
        fail(ErrorCode::kUnsupported, source_, ": programs with states cannot run in a pipeline");
      }
      const auto it = features.find(in.name);
      if (it == features.end() || !it->second.is_tensor()) {
        fail(ErrorCode::kInvalidArgument, source_, ": input '", in.name, "' ",
             it == features.end() ? "is missing" : "is not a tensor");
      }
      const auto expected = runtime::tensor_dtype(in.type.tensor.dtype);
      if (!expected) fail(ErrorCode::kUnsupported, source_, ": input '", in.name, "' type");
      bound.push_back(convert_input(in.name, it->second.tensor(), *expected).contiguous());
    }
    std::vector<const Tensor*> pointers;
    for (const auto& t : bound) pointers.push_back(&t);
    compiled_->predict(pointers, nullptr, results_);
    const auto& names = function_->block.outputs;
    for (size_t i = 0; i < results_.size() && i < names.size(); ++i) {
      if (classify_ &&
          (names[i] == classify_->outputs[0].name || names[i] == classify_->outputs[1].name)) {
        continue;
      }
      features[names[i]] = results_[i].clone();
    }
    if (classify_) add_classification(features);
  }

 private:
  void add_classification(Features& features) const {
    bool integer = false;
    const auto classes = runtime::classify_labels(*classify_, &integer);
    const auto& names = function_->block.outputs;
    for (size_t i = 0; i < results_.size() && i < names.size(); ++i) {
      if (names[i] == classify_->outputs[0].name) {
        const auto& label = classes.at(static_cast<size_t>(results_[i].to_vector<int64_t>().at(0)));
        features[names[i]] =
            integer ? FeatureValue(int64_t{std::stoll(label)}) : FeatureValue(label);
      }
      if (names[i] == classify_->outputs[1].name) {
        const auto p = results_[i].to_vector<double>();
        if (integer) {
          Int64Dictionary d;
          for (size_t c = 0; c < classes.size() && c < p.size(); ++c)
            d[std::stoll(classes[c])] = p[c];
          features[names[i]] = std::move(d);
        } else {
          StringDictionary d;
          for (size_t c = 0; c < classes.size() && c < p.size(); ++c) d[classes[c]] = p[c];
          features[names[i]] = std::move(d);
        }
      }
    }
  }

  std::string source_;
  std::unique_ptr<format::ModelAsset> asset_;  // the compiled function refers to it
  mil::Function* function_ = nullptr;          // after compile: its signature only
  std::unique_ptr<backends::CompiledFunction> compiled_;
  std::optional<mil::Operation> classify_;
  std::vector<Tensor> results_;
};

const spec::Pipeline* pipeline_of(const spec::Model& model) {
  if (model.has_pipeline()) return &model.pipeline();
  if (model.has_pipeline_classifier()) return &model.pipeline_classifier().pipeline();
  if (model.has_pipeline_regressor()) return &model.pipeline_regressor().pipeline();
  return nullptr;
}

}  // namespace

std::unique_ptr<Stage> make_stage(const spec::Model& model, const StageContext& context,
                                  const std::string& source) {
  // NeuralNetwork sub-models are translated into a program when read (read_sub_model).
  if (model.has_ml_program() || model.has_neural_network() ||
      model.has_neural_network_classifier() || model.has_neural_network_regressor()) {
    return std::make_unique<ProgramStage>(model, context, source);
  }
  if (const spec::Pipeline* pipeline = pipeline_of(model)) {
    if (pipeline->models_size() == 0) fail(ErrorCode::kParse, source, ": the pipeline is empty");
    std::vector<std::unique_ptr<Stage>> stages;
    for (int i = 0; i < pipeline->models_size(); ++i) {
      const std::string type(format::model_type_name(pipeline->models(i)));
      stages.push_back(make_stage(pipeline->models(i), context,
                                  detail::cat(source, ": pipeline model ", i, " (", type, ")")));
    }
    return std::make_unique<PipelineStage>(std::move(stages));
  }
  if (auto evaluator = classic::make_evaluator(model, source)) {
    return std::make_unique<ClassicStage>(std::move(evaluator));
  }
  // Every other type is named and refused.
  const std::string_view type = format::model_type_name(model);
  fail(
      ErrorCode::kUnsupported, source, ": model type ", type.empty() ? "(none set)" : type,
      " is not supported (ML Programs, NeuralNetworks, pipelines and the classic model types are)");
}

}  // namespace coreml::model_detail
