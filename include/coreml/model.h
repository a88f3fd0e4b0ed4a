// coreml::Model: load a Core ML ML Program and predict with coreml::Tensor.
//
//   auto model = coreml::Model::load("model.mlpackage");                 // default function
//   auto infer = coreml::Model::load(path, {.function = "infer"});
//   coreml::Outputs out = model.predict({{"x", x}, {"y", y}});           // by name
//   coreml::Tensor first = model.forward({&x, &y});                      // positional
//   coreml::State state = infer.make_state();
//   infer.predict(inputs, state);                                        // state persists
//
// Inputs are checked against the description. Accepted conversions (as Core ML accepts
// them): int64 -> int32, int32 -> int64 (both range-checked), fp32 <-> fp16, fp64 -> fp32/fp16,
// bf16 -> fp16/fp32. Anything else is an Error naming the input, what came and what was
// expected. Outputs are CPU tensors tagged with the device of the inputs (unified memory).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "coreml/description.h"
#include "coreml/export.h"
#include "coreml/feature_value.h"
#include "coreml/tensor.h"

COREML_PUBLIC_BEGIN

namespace coreml {

namespace backends {
class BackendState;
struct StateAccess;
}  // namespace backends

enum class Backend {
  kAuto,    // Core ML on Apple platforms (when built), else the native runtime
  kNative,  // coreml-cpp's portable CPU runtime
  kCoreML,  // Apple's Core ML framework (Apple platforms only)
};

// Where Core ML may run a model (MLComputeUnits). The CPU is in every set, so the native
// runtime (CPU only) honours them all.
enum class ComputeUnits { kAll, kCpuOnly, kCpuAndGpu, kCpuAndNeuralEngine };

// Whether this build, on this system, can run models with `backend` (kAuto and kNative: always;
// kCoreML: Apple builds on a system with Core ML).
bool backend_available(Backend backend);

struct LoadOptions {
  std::string function;  // empty = the model's default function
  Backend backend = Backend::kAuto;
  ComputeUnits compute_units = ComputeUnits::kAll;
  int threads = 0;  // 0 = the number of cores
};

using Inputs = std::map<std::string, Tensor>;

// A classifier's result, as Core ML returns it (the classify op): the predicted class label
// and the probability of every class.
struct Classification {
  std::string label_output;           // e.g. "classLabel"
  std::string probabilities_output;   // e.g. "classLabel_probs"
  std::vector<std::string> classes;   // class labels in order (integer labels as decimal text)
  bool integer_classes = false;       // the model's labels are int64
  std::vector<double> probabilities;  // one per class
  size_t top = 0;                     // index of the predicted class
  const std::string& label() const { return classes.at(top); }
  int64_t int_label() const;  // integer classes only
};

// Named outputs in the order the function declares them.
class Outputs {
 public:
  friend class Model;
  void add(std::string name, Tensor tensor);
  // A classifier's label and probabilities. Integer labels are also an int64 scalar tensor
  // under label_output; string labels and the probability dictionary are only here.
  void set_classification(Classification c);
  const Classification* classification() const { return classification_.get(); }
  const Tensor& at(const std::string& name) const;
  const Tensor& operator[](const std::string& name) const { return at(name); }
  bool contains(const std::string& name) const;
  size_t size() const { return entries_.size(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  const std::pair<std::string, Tensor>& front() const;

  // Outputs that are not tensors (int64, double, string, dictionary features of classic models
  // and pipelines). add_value() of a tensor is add().
  void add_value(std::string name, FeatureValue value);
  const std::vector<std::pair<std::string, FeatureValue>>& values() const { return values_; }
  // Any output by name as a FeatureValue: a tensor, a non-tensor value, or a classifier's label
  // (string or int64) and probability dictionary.
  FeatureValue value(const std::string& name) const;

 private:
  std::vector<std::pair<std::string, Tensor>> entries_;
  std::vector<std::pair<std::string, FeatureValue>> values_;
  std::shared_ptr<const Classification> classification_;
};

// The values of a function's states (e.g. a KV cache). Created zero-filled by make_state();
// one State can be passed to every function and model whose state declarations match.
//
// A native state's tensors are the State's own. A Core ML state lives inside Core ML (MLState):
// tensors() is empty, at() is an Error, read() returns a copy.
class State {
 public:
  friend struct backends::StateAccess;
  State() = default;
  bool empty() const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  // Direct access (e.g. to inspect or reset a cache); the tensor shares the state's memory.
  Tensor& at(const std::string& name);
  const Tensor& at(const std::string& name) const;
  Tensor read(const std::string& name) const;  // a copy of one state's value (any backend)
  void reset();                                // zero every state tensor

 private:
  std::map<std::string, Tensor> tensors_;
  std::shared_ptr<backends::BackendState> backend_state_;  // set for a state inside a backend
};

// Time spent in one op type (profile()), or in one op (profile_ops(): `name` is the op's first
// output), over the predictions since profiling was turned on.
struct OpTiming {
  std::string op_type;
  int64_t calls = 0;
  double milliseconds = 0;
  std::string name;  // profile_ops() only
};

struct PredictStats {
  double milliseconds = 0;
  int64_t peak_activation_bytes = 0;  // of the last prediction's plan
};

class Model {
 public:
  static Model load(const std::string& path, const LoadOptions& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  Outputs predict(const Inputs& inputs);
  Outputs predict(const Inputs& inputs, State& state);
  // For loops that predict many times (an LLM's decode steps): the outputs are written into
  // `outputs`, and their tensors share the model's memory: they stay valid until this model's
  // next prediction (clone what you keep). Once the input shapes repeat, a prediction whose
  // ops all have prepared kernels allocates nothing.
  void predict_into(const Inputs& inputs, Outputs& outputs);
  void predict_into(const Inputs& inputs, State& state, Outputs& outputs);
  // Inputs of any feature kind: what classic models and pipelines take (int64, double, string,
  // dictionary features); tensors work for every model. Non-tensor outputs are in
  // Outputs::values() / Outputs::value().
  Outputs predict_features(const FeatureInputs& inputs);
  // Positional inputs in declaration order; returns the first output.
  Tensor forward(const std::vector<const Tensor*>& inputs);

  State make_state() const;
  const ModelDescription& description() const;
  const FunctionDescription& function() const;  // the function this model runs
  Backend backend() const;                      // the backend this model runs on (never kAuto)
  PredictStats last_stats() const;
  // Per-op-type timing of the predictions that follow (costs a clock read per op).
  void set_profiling(bool on);
  std::vector<OpTiming> profile() const;
  // The same timing op by op, in program order (the function's top-level ops; an op inside a
  // control-flow block counts toward the op that holds it).
  std::vector<OpTiming> profile_ops() const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coreml

COREML_PUBLIC_END
