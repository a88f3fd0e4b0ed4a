// coreml::Model: the facade every backend shares. It reads the model, picks the backend,
// checks and converts inputs, turns a classifier's outputs into a Classification and times
// predictions; the backend (backends/backend.h) compiles the function and predicts.
#include "coreml/model.h"

#include <chrono>
#include <cstring>
#include <optional>

#include "backends/backend.h"
#include "format/model_reader.h"
#include "model/feature_inputs.h"
#include "model/input_check.h"
#include "model/pipeline.h"
#include "runtime/classify_labels.h"
#include "runtime/raw_constant.h"

namespace coreml {

void Outputs::add(std::string name, Tensor tensor) {
  entries_.emplace_back(std::move(name), std::move(tensor));
}

int64_t Classification::int_label() const {
  if (!integer_classes) fail(ErrorCode::kInvalidArgument, "the classifier's labels are strings");
  return std::stoll(label());
}

void Outputs::set_classification(Classification c) {
  if (c.integer_classes) {
    add(c.label_output,
        Tensor::from_vector(std::vector<int64_t>{c.int_label()}, std::vector<int64_t>{}));
  }
  classification_ = std::make_shared<const Classification>(std::move(c));
}

void Outputs::add_value(std::string name, FeatureValue value) {
  if (value.is_tensor()) return add(std::move(name), value.tensor());
  values_.emplace_back(std::move(name), std::move(value));
}

FeatureValue Outputs::value(const std::string& name) const {
  if (classification_) {
    const Classification& c = *classification_;
    if (name == c.label_output) {
      return c.integer_classes ? FeatureValue(c.int_label()) : FeatureValue(c.label());
    }
    if (!c.probabilities_output.empty() && name == c.probabilities_output) {
      return model_detail::probability_dictionary(c);
    }
  }
  for (const auto& [n, v] : values_) {
    if (n == name) return v;
  }
  return at(name);
}

const Tensor& Outputs::at(const std::string& name) const {
  for (const auto& [n, t] : entries_) {
    if (n == name) return t;
  }
  for (const auto& [n, v] : values_) {
    if (n == name) {
      fail(ErrorCode::kInvalidArgument, "output '", name, "' is a ",
           feature_value_kind_name(v.kind()), ", not a tensor: read it with Outputs::value()");
    }
  }
  if (classification_ &&
      (name == classification_->label_output || name == classification_->probabilities_output)) {
    fail(ErrorCode::kInvalidArgument, "output '", name, "' is a classifier's ",
         name == classification_->label_output ? "string label" : "probability dictionary",
         ", not a tensor: read it with Outputs::classification()");
  }
  std::string names;
  for (const auto& [n, t] : entries_) names += (names.empty() ? "" : ", ") + n;
  fail(ErrorCode::kNotFound, "no output named '", name, "' (outputs: ", names, ")");
}

bool Outputs::contains(const std::string& name) const {
  for (const auto& [n, t] : entries_) {
    if (n == name) return true;
  }
  for (const auto& [n, v] : values_) {
    if (n == name) return true;
  }
  return false;
}

const std::pair<std::string, Tensor>& Outputs::front() const {
  if (entries_.empty()) fail(ErrorCode::kNotFound, "the model returned no outputs");
  return entries_.front();
}

bool State::empty() const {
  return tensors_.empty() && (!backend_state_ || backend_state_->names().empty());
}

Tensor& State::at(const std::string& name) {
  return const_cast<Tensor&>(std::as_const(*this).at(name));
}

const Tensor& State::at(const std::string& name) const {
  if (backend_state_) {
    fail(ErrorCode::kUnsupported, "state '", name,
         "' lives inside Core ML (MLState), which lends its memory only for the length of a "
         "call: read a copy with State::read()");
  }
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorCode::kNotFound, "no state named '", name, "'");
  return it->second;
}

Tensor State::read(const std::string& name) const {
  if (backend_state_) return backend_state_->read(name);
  return at(name).clone();
}

void State::reset() {
  if (backend_state_) backend_state_->reset();
  for (auto& [name, t] : tensors_) {
    if (t.numel() > 0) std::memset(t.data(), 0, t.nbytes());
  }
}

using model_detail::allowed_shapes_text;
using model_detail::convert_input;
using model_detail::declared_shape;
using model_detail::shape_allowed;
using model_detail::shape_text;

struct Model::Impl {
  format::ModelAsset asset;
  // Pipelines and classic model types (asset.spec set): no function, the stages instead.
  std::unique_ptr<model_detail::Stage> feature_model;
  // The function loaded; after compile only its signature (the backend may hold its operations).
  mil::Function* function = nullptr;
  FunctionDescription function_description;
  const backends::BackendInterface* backend = nullptr;
  std::unique_ptr<backends::CompiledFunction> compiled;
  PredictStats stats;
  // Reused across predictions so that a steady loop allocates nothing.
  std::vector<const Tensor*> bound_inputs;
  std::vector<Tensor> converted;
  std::vector<Tensor> results;
  // The function's non-state inputs in declaration order (the order backends take them), their
  // declared shapes and descriptions (computed once).
  std::vector<const mil::NamedType*> input_order;
  std::vector<std::vector<int64_t>> input_shapes;
  std::vector<const FeatureDescription*> input_features;

  void prepare_bindings() {
    for (const auto& in : function->inputs) {
      if (in.type.kind == mil::Type::Kind::kState) continue;
      input_order.push_back(&in);
      input_shapes.push_back(declared_shape(in.type.tensor));
      input_features.push_back(feature(in.name));
    }
  }

  const FeatureDescription* feature(const std::string& name) const {
    for (const auto& f : function_description.inputs) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  std::string input_names() const {
    std::string names;
    for (const auto* in : input_order) names += (names.empty() ? "" : ", ") + in->name;
    return names;
  }

  // Binds `inputs` in declaration order, converting where the model wants another dtype.
  void bind_inputs(const Inputs& inputs, Device* device) {
    bound_inputs.resize(input_order.size());
    converted.resize(input_order.size());
    size_t found = 0;
    for (size_t k = 0; k < input_order.size(); ++k) {
      const mil::NamedType& in = *input_order[k];
      const auto it = inputs.find(in.name);
      if (it == inputs.end()) {
        fail(ErrorCode::kInvalidArgument, "missing input '", in.name, "' (function '",
             function->name, "' takes: ", input_names(), ")");
      }
      ++found;
      const Tensor& given = it->second;
      if (given.device().kind() == Device::Kind::kCuda) {
        fail(ErrorCode::kInvalidArgument, "input '", in.name, "' is tagged ",
             given.device().to_string(),
             ": CUDA memory is not accepted (the runtime computes on the CPU); copy it to the CPU "
             "first");
      }
      if (!given.device().is_cpu()) *device = given.device();
      const auto expected = runtime::tensor_dtype(in.type.tensor.dtype);
      if (!expected) {
        fail(ErrorCode::kUnsupported, "input '", in.name, "' has type ",
             mil::data_type_name(in.type.tensor.dtype), ", which tensors cannot hold");
      }
      const FeatureDescription* feature_desc = input_features[k];
      if (!shape_allowed(feature_desc, input_shapes[k], given.shape())) {
        fail(ErrorCode::kInvalidArgument, "input '", in.name, "': got shape ",
             shape_text(given.shape()), ", expected ",
             allowed_shapes_text(feature_desc, input_shapes[k]));
      }
      if (given.dtype() == *expected && given.is_contiguous() && given.device().is_cpu()) {
        bound_inputs[k] = &given;
        continue;
      }
      converted[k] = convert_input(in.name, given, *expected).contiguous();
      if (!converted[k].device().is_cpu()) converted[k] = converted[k].with_device(Device::cpu());
      bound_inputs[k] = &converted[k];
    }
    if (found != inputs.size()) {
      for (const auto& [name, tensor] : inputs) {
        bool known = false;
        for (const auto* in : input_order) known |= in->name == name;
        if (!known) {
          fail(ErrorCode::kInvalidArgument, "unknown input '", name, "' (function '",
               function->name, "' takes: ", input_names(), ")");
        }
      }
    }
  }

  // A classifier's classify op (its outputs are the function's label and probabilities).
  std::optional<mil::Operation> classify_op;

  bool is_classify_output(const std::string& name) const {
    return name == classify_op->outputs[0].name || name == classify_op->outputs[1].name;
  }

  // Backends return the top class index (int64) and the probabilities (fp64).
  Classification classification(const std::vector<Tensor>& values) const {
    Classification c;
    c.label_output = classify_op->outputs[0].name;
    c.probabilities_output = classify_op->outputs[1].name;
    c.classes = runtime::classify_labels(*classify_op, &c.integer_classes);
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string& name = function->block.outputs[i];
      if (name == c.label_output) c.top = static_cast<size_t>(values[i].to_vector<int64_t>().at(0));
      if (name == c.probabilities_output) c.probabilities = values[i].to_vector<double>();
    }
    return c;
  }

  void run_features(const FeatureInputs& inputs, Outputs& outputs) {
    const auto start = std::chrono::steady_clock::now();
    model_detail::Features features =
        model_detail::check_feature_inputs(function_description, inputs);
    feature_model->run(features);
    outputs.entries_.clear();
    outputs.values_.clear();
    outputs.classification_.reset();
    const ModelDescription& d = asset.description;
    for (const auto& out : function_description.outputs) {
      const auto it = features.find(out.name);
      if (it == features.end()) {
        fail(ErrorCode::kInvalidArgument, d.path, ": the model did not compute its output '",
             out.name, "'");
      }
      if (out.name == d.predicted_feature_name || out.name == d.predicted_probabilities_name) {
        continue;
      }
      outputs.add_value(out.name, it->second);
    }
    if (!d.predicted_feature_name.empty()) {
      outputs.set_classification(model_detail::classification_of(d, features));
    }
    stats.milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    stats.peak_activation_bytes = 0;
  }

  void run(const Inputs& inputs, State* state, Outputs& outputs) {
    if (feature_model) {
      run_features(FeatureInputs(inputs.begin(), inputs.end()), outputs);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    Device device = Device::cpu();
    bind_inputs(inputs, &device);
    compiled->predict(bound_inputs, state, results);
    if (results.size() != function->block.outputs.size()) {
      fail(ErrorCode::kInternal, "the ", backend->name(), " backend returned ", results.size(),
           " outputs; function '", function->name, "' declares ", function->block.outputs.size());
    }
    size_t n = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      if (classify_op && is_classify_output(function->block.outputs[i])) continue;
      if (outputs.entries_.size() <= n) outputs.entries_.emplace_back();
      outputs.entries_[n].first = function->block.outputs[i];
      // Copy-assigned (not a temporary): the tensor's shape vectors keep their capacity.
      if (device.is_cpu()) {
        outputs.entries_[n].second = results[i];
      } else {
        outputs.entries_[n].second = results[i].with_device(device);
      }
      ++n;
    }
    outputs.entries_.resize(n);
    if (classify_op) outputs.set_classification(classification(results));
    stats.milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    stats.peak_activation_bytes = compiled->peak_activation_bytes();
  }
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path, const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->backend = &backends::choose_backend(options.backend, options.compute_units);
  impl->asset = format::read_model(path);
  if (impl->asset.spec) {
    if (options.threads < 0) {
      fail(ErrorCode::kInvalidArgument, "threads must be >= 0 (0 = one per core), got ",
           options.threads);
    }
    if (!options.function.empty() && options.function != "main") {
      fail(ErrorCode::kNotFound, path, ": no function '", options.function, "' (a ",
           impl->asset.description.model_type, " model has one function, main)");
    }
    impl->function_description = impl->asset.description.functions.at(0);
    impl->feature_model = model_detail::make_stage(*impl->asset.spec,
                                                   {.top = &impl->asset,
                                                    .backend = impl->backend,
                                                    .compute_units = options.compute_units,
                                                    .threads = options.threads},
                                                   path);
    return Model(std::move(impl));
  }
  const std::string name =
      options.function.empty() ? impl->asset.description.default_function : options.function;
  impl->function = impl->asset.program.find_function(name);
  if (!impl->function) {
    std::string names;
    for (const auto& f : impl->asset.program.functions)
      names += (names.empty() ? "" : ", ") + f.name;
    fail(ErrorCode::kNotFound, path, ": no function '", name, "' (functions: ", names, ")");
  }
  if (const auto* fd = impl->asset.description.find_function(name))
    impl->function_description = *fd;
  // The program's other functions are never run by this model: their operations go now.
  for (auto& f : impl->asset.program.functions) {
    if (&f != impl->function) f.block.operations = {};
  }
  if (!impl->asset.description.weights.present) {
    std::string missing;
    for (const auto& m : impl->asset.description.weights.missing)
      missing += (missing.empty() ? "" : ", ") + m;
    fail(ErrorCode::kNotFound, path, ": weight file missing: ", missing,
         " (running the model needs it)");
  }
  if (options.threads < 0) {
    fail(ErrorCode::kInvalidArgument, "threads must be >= 0 (0 = one per core), got ",
         options.threads);
  }
  impl->classify_op = runtime::find_classify_op(impl->function->block);  // before compile
  try {
    impl->compiled = impl->backend->compile({.path = path,
                                             .asset = &impl->asset,
                                             .function = impl->function,
                                             .compute_units = options.compute_units,
                                             .threads = options.threads});
  } catch (const Error& e) {
    fail(e.code(), path, ": ", e.what());
  }
  impl->prepare_bindings();
  return Model(std::move(impl));
}

Outputs Model::predict(const Inputs& inputs) {
  Outputs outputs;
  impl_->run(inputs, nullptr, outputs);
  // Backends' results share their memory until the next prediction: give the caller copies.
  for (auto& [name, tensor] : outputs.entries_) tensor = tensor.clone();
  return outputs;
}

Outputs Model::predict(const Inputs& inputs, State& state) {
  Outputs outputs;
  impl_->run(inputs, &state, outputs);
  for (auto& [name, tensor] : outputs.entries_) tensor = tensor.clone();
  return outputs;
}

void Model::predict_into(const Inputs& inputs, Outputs& outputs) {
  impl_->run(inputs, nullptr, outputs);
}

void Model::predict_into(const Inputs& inputs, State& state, Outputs& outputs) {
  impl_->run(inputs, &state, outputs);
}

Outputs Model::predict_features(const FeatureInputs& inputs) {
  Outputs outputs;
  if (impl_->feature_model) {
    impl_->run_features(inputs, outputs);
    return outputs;
  }
  Inputs tensors;
  for (const auto& [name, value] : inputs) {
    if (!value.is_tensor()) {
      fail(ErrorCode::kInvalidArgument, "input '", name, "' is a ",
           feature_value_kind_name(value.kind()), "; ML Program inputs are tensors");
    }
    tensors.emplace(name, value.tensor());
  }
  return predict(tensors);
}

void Model::set_profiling(bool on) {
  if (impl_->compiled) impl_->compiled->set_profiling(on);
}

std::vector<OpTiming> Model::profile_ops() const {
  return impl_->compiled ? impl_->compiled->profile_ops() : std::vector<OpTiming>{};
}

std::vector<OpTiming> Model::profile() const {
  return impl_->compiled ? impl_->compiled->profile() : std::vector<OpTiming>{};
}

Tensor Model::forward(const std::vector<const Tensor*>& inputs) {
  if (impl_->feature_model) {
    Inputs named;
    const auto& declared = impl_->function_description.inputs;
    if (inputs.size() != declared.size()) {
      fail(ErrorCode::kInvalidArgument, "forward: ", inputs.size(),
           " inputs given, the model takes ", declared.size());
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i]) fail(ErrorCode::kInvalidArgument, "forward: input ", i, " is null");
      named[declared[i].name] = *inputs[i];
    }
    return predict(named).front().second;
  }
  Inputs named;
  size_t i = 0;
  for (const auto& in : impl_->function->inputs) {
    if (in.type.kind == mil::Type::Kind::kState) continue;
    if (i >= inputs.size() || !inputs[i]) {
      fail(ErrorCode::kInvalidArgument, "forward: function '", impl_->function->name,
           "' takes input '", in.name, "' at position ", i, ", but only ", inputs.size(),
           " were given");
    }
    named[in.name] = *inputs[i++];
  }
  if (i != inputs.size()) {
    fail(ErrorCode::kInvalidArgument, "forward: ", inputs.size(),
         " inputs given, the function takes ", i);
  }
  return predict(named).front().second;
}

State Model::make_state() const {
  return impl_->compiled ? impl_->compiled->make_state() : State();
}

const ModelDescription& Model::description() const { return impl_->asset.description; }
const FunctionDescription& Model::function() const { return impl_->function_description; }
Backend Model::backend() const { return impl_->backend->kind(); }
PredictStats Model::last_stats() const { return impl_->stats; }

}  // namespace coreml
