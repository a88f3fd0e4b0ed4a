// coreml::Model on top of the native runtime (the Core ML backend plugs in here on Apple).
#include "coreml/model.h"

#include <chrono>
#include <cstring>
#include <limits>

#include "format/model_reader.h"
#include "runtime/executor.h"
#include "runtime/classify_labels.h"
#include "runtime/limits.h"
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
    add(c.label_output, Tensor::from_vector(std::vector<int64_t>{c.int_label()}, std::vector<int64_t>{}));
  }
  classification_ = std::make_shared<const Classification>(std::move(c));
}

const Tensor& Outputs::at(const std::string& name) const {
  for (const auto& [n, t] : entries_) {
    if (n == name) return t;
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
  return false;
}

const std::pair<std::string, Tensor>& Outputs::front() const {
  if (entries_.empty()) fail(ErrorCode::kNotFound, "the model returned no outputs");
  return entries_.front();
}

Tensor& State::at(const std::string& name) {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorCode::kNotFound, "no state named '", name, "'");
  return it->second;
}

const Tensor& State::at(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorCode::kNotFound, "no state named '", name, "'");
  return it->second;
}

void State::reset() {
  for (auto& [name, t] : tensors_) {
    if (t.numel() > 0) std::memset(t.data(), 0, t.nbytes());
  }
}

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += (i ? ", " : "") + (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  }
  return s + "]";
}

std::vector<int64_t> declared_shape(const mil::TensorType& t) {
  std::vector<int64_t> shape;
  if (t.shape) {
    for (const auto& d : *t.shape) shape.push_back(d.known() ? d.size : -1);
  }
  return shape;
}

bool shape_matches(const std::vector<int64_t>& pattern, const std::vector<int64_t>& shape) {
  if (pattern.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (pattern[i] >= 0 && pattern[i] != shape[i]) return false;
  }
  return true;
}

// Is `shape` acceptable for this input (declared, enumerated, or within ranges)?
bool shape_allowed(const FeatureDescription* feature, const std::vector<int64_t>& declared,
                   const std::vector<int64_t>& shape) {
  if (feature && !feature->enumerated_shapes.empty()) {
    for (const auto& s : feature->enumerated_shapes) {
      if (s == shape) return true;
    }
    return false;
  }
  if (feature && !feature->shape_ranges.empty()) {
    if (feature->shape_ranges.size() != shape.size()) return false;
    for (size_t i = 0; i < shape.size(); ++i) {
      const auto& r = feature->shape_ranges[i];
      if (shape[i] < r.lower || (r.upper >= 0 && shape[i] > r.upper)) return false;
    }
    return true;
  }
  return shape_matches(declared, shape);
}

std::string allowed_shapes_text(const FeatureDescription* feature,
                                const std::vector<int64_t>& declared) {
  if (feature && !feature->enumerated_shapes.empty()) {
    std::string s;
    for (const auto& e : feature->enumerated_shapes) s += (s.empty() ? "" : " or ") + shape_text(e);
    return s;
  }
  if (feature && !feature->shape_ranges.empty()) {
    std::string s = "[";
    for (size_t i = 0; i < feature->shape_ranges.size(); ++i) {
      const auto& r = feature->shape_ranges[i];
      s += (i ? ", " : "") + std::to_string(r.lower) + ".." +
           (r.upper < 0 ? std::string("inf") : std::to_string(r.upper));
    }
    return s + "]";
  }
  return shape_text(declared);
}

bool conversion_allowed(DType from, DType to) {
  if (from == to) return true;
  const auto is = [&](DType a, DType b) { return from == a && to == b; };
  return is(DType::kInt64, DType::kInt32) || is(DType::kInt32, DType::kInt64) ||
         is(DType::kFloat32, DType::kFloat16) || is(DType::kFloat16, DType::kFloat32) ||
         is(DType::kFloat64, DType::kFloat32) || is(DType::kFloat64, DType::kFloat16) ||
         is(DType::kBFloat16, DType::kFloat16) || is(DType::kBFloat16, DType::kFloat32);
}

Tensor convert_input(const std::string& name, const Tensor& given, DType expected) {
  if (given.dtype() == expected) return given;
  if (!conversion_allowed(given.dtype(), expected)) {
    fail(ErrorCode::kInvalidArgument, "input '", name, "': got ", dtype_name(given.dtype()),
         ", expected ", dtype_name(expected),
         " (accepted conversions: int64->int32, int32->int64, fp32<->fp16, fp64->fp32/fp16, "
         "bf16->fp16/fp32)");
  }
  if (given.dtype() == DType::kInt64 && expected == DType::kInt32) {
    for (int64_t v : given.to_vector<int64_t>()) {
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
        fail(ErrorCode::kInvalidArgument, "input '", name, "': int64 value ", v,
             " does not fit the model's int32 input");
      }
    }
  }
  return given.to(expected);
}

}  // namespace

struct Model::Impl {
  format::ModelAsset asset;
  const mil::Function* function = nullptr;
  FunctionDescription function_description;
  std::unique_ptr<runtime::FunctionExecutor> executor;
  Backend backend = Backend::kNative;
  PredictStats stats;
  // Reused across predictions so that a steady loop allocates nothing.
  std::vector<const Tensor*> bound_inputs;
  std::vector<Tensor> converted;
  std::vector<Tensor*> bound_states;
  std::vector<Tensor> results;
  // Declared shapes of the executor's inputs and states, in its order (computed once).
  std::vector<std::vector<int64_t>> input_shapes, state_shapes;
  std::vector<const FeatureDescription*> input_features;

  void prepare_bindings() {
    for (const auto* in : executor->input_order()) {
      input_shapes.push_back(declared_shape(in->type.tensor));
      input_features.push_back(feature(in->name));
    }
    for (const auto* in : executor->state_order())
      state_shapes.push_back(declared_shape(in->type.tensor));
  }

  const FeatureDescription* feature(const std::string& name) const {
    for (const auto& f : function_description.inputs) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  std::string input_names() const {
    std::string names;
    for (const auto* in : executor->input_order()) names += (names.empty() ? "" : ", ") + in->name;
    return names;
  }

  // Binds `inputs` in the executor's order, converting where the model wants another dtype.
  void bind_inputs(const Inputs& inputs, Device* device) {
    const auto& order = executor->input_order();
    bound_inputs.resize(order.size());
    converted.resize(order.size());
    size_t found = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      const mil::NamedType& in = *order[k];
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
        for (const auto* in : order) known |= in->name == name;
        if (!known) {
          fail(ErrorCode::kInvalidArgument, "unknown input '", name, "' (function '",
               function->name, "' takes: ", input_names(), ")");
        }
      }
    }
  }

  void bind_states(State* state) {
    const auto& order = executor->state_order();
    bound_states.resize(order.size());
    if (order.empty()) return;
    if (!state) {
      fail(ErrorCode::kInvalidArgument, "function '", function->name,
           "' has states: create one with make_state() and call predict(inputs, state)");
    }
    for (size_t k = 0; k < order.size(); ++k) {
      const mil::NamedType& in = *order[k];
      const auto it = state->tensors_.find(in.name);
      if (it == state->tensors_.end()) {
        fail(ErrorCode::kInvalidArgument, "the State has no '", in.name, "' that function '",
             function->name, "' declares; make it with make_state() of a model whose states match");
      }
      const auto expected = runtime::tensor_dtype(in.type.tensor.dtype);
      const auto& declared = state_shapes[k];
      if (!expected || it->second.dtype() != *expected || it->second.shape() != declared ||
          !it->second.is_contiguous()) {
        fail(ErrorCode::kInvalidArgument, "state '", in.name, "': the State holds ",
             dtype_name(it->second.dtype()), " ", shape_text(it->second.shape()), ", function '",
             function->name, "' declares ", mil::data_type_name(in.type.tensor.dtype), " ",
             shape_text(declared));
      }
      bound_states[k] = &it->second;
    }
  }

  // A classifier's classify op (its outputs are the function's label and probabilities).
  const mil::Operation* classify_op = nullptr;

  void find_classify_op() {
    for (const auto& op : function->block.operations) {
      if (op.type == "classify" && op.outputs.size() == 2) classify_op = &op;
    }
  }

  bool is_classify_output(const std::string& name) const {
    return name == classify_op->outputs[0].name || name == classify_op->outputs[1].name;
  }

  // The classify kernel returns the top class index (int64) and the probabilities (fp64).
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

  void run(const Inputs& inputs, State* state, Outputs& outputs) {
    const auto start = std::chrono::steady_clock::now();
    Device device = Device::cpu();
    bind_inputs(inputs, &device);
    bind_states(state);
    executor->run(bound_inputs, bound_states, results);
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
    stats.peak_activation_bytes = executor->peak_activation_bytes();
  }
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path, const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  if (options.backend == Backend::kCoreML) {
    fail(ErrorCode::kUnsupported,
         "the Core ML backend is only available in builds for Apple platforms; use "
         "Backend::kNative");
  }
  impl->backend = Backend::kNative;
  impl->asset = format::read_model(path);
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
  try {
    impl->executor = std::make_unique<runtime::FunctionExecutor>(
        impl->asset, *impl->function, runtime::KernelRegistry::global(),
        runtime::ThreadPool::shared(options.threads));
  } catch (const Error& e) {
    fail(e.code(), path, ": ", e.what());
  }
  impl->prepare_bindings();
  impl->find_classify_op();
  return Model(std::move(impl));
}

Outputs Model::predict(const Inputs& inputs) {
  Outputs outputs;
  impl_->run(inputs, nullptr, outputs);
  // The executor's results share its memory until the next prediction: give the caller copies.
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

void Model::set_profiling(bool on) { impl_->executor->set_profiling(on); }

std::vector<OpTiming> Model::profile() const {
  std::vector<OpTiming> out;
  for (const auto& p : impl_->executor->profile())
    out.push_back({p.op_type, p.calls, p.milliseconds});
  return out;
}

Tensor Model::forward(const std::vector<const Tensor*>& inputs) {
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
  State state;
  for (const auto& in : impl_->function->inputs) {
    if (in.type.kind != mil::Type::Kind::kState) continue;
    const auto dtype = runtime::tensor_dtype(in.type.tensor.dtype);
    if (!dtype) fail(ErrorCode::kUnsupported, "state '", in.name, "' has an unsupported type");
    runtime::check_tensor_budget(declared_shape(in.type.tensor), *dtype,
                                 "state '" + in.name + "': ");
    state.tensors_[in.name] = Tensor::zeros(declared_shape(in.type.tensor), *dtype);
  }
  return state;
}

const ModelDescription& Model::description() const { return impl_->asset.description; }
const FunctionDescription& Model::function() const { return impl_->function_description; }
Backend Model::backend() const { return impl_->backend; }
PredictStats Model::last_stats() const { return impl_->stats; }

}  // namespace coreml
