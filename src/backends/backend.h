// The seam between coreml::Model and what runs a model: a backend compiles one function of a
// loaded model, and the compiled function predicts.
//
// coreml::Model (src/model/) owns what every backend shares: reading the model and its
// description, checking and converting inputs, the classifier's result, timing. A backend only
// sees inputs that already have the declared dtype, an allowed shape, and contiguous CPU memory.
//
// Two backends exist: the native runtime (backends/native, every platform) and Apple's Core ML
// framework (backends/coreml_apple, Objective-C++, built on Apple platforms). The registry below
// knows which are built into this library and picks one for Backend::kAuto.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coreml/model.h"
#include "format/model_reader.h"

namespace coreml::backends {

// A state that lives inside a backend (Core ML's MLState), held by a coreml::State. Native
// states need none of this: their tensors are the State's own.
class BackendState {
 public:
  virtual ~BackendState() = default;
  virtual std::vector<std::string> names() const = 0;
  // A copy of one state's current value.
  virtual Tensor read(const std::string& name) const = 0;
  virtual void reset() = 0;  // every state back to zeros
};

// Gives backends access to a coreml::State's internals.
struct StateAccess {
  static std::map<std::string, Tensor>& tensors(State& state) { return state.tensors_; }
  static const std::shared_ptr<BackendState>& backend_state(const State& state) {
    return state.backend_state_;
  }
  static void set_backend_state(State& state, std::shared_ptr<BackendState> backend_state) {
    state.backend_state_ = std::move(backend_state);
  }
};

// One function, ready to predict.
class CompiledFunction {
 public:
  virtual ~CompiledFunction() = default;
  // `inputs`: the function's non-state inputs in declaration order, each in its declared dtype,
  // contiguous, on the CPU. `state`: null for a function without states. `outputs` receives
  // the function's block outputs in order; they may share the backend's memory until the next
  // predict (the facade clones what it hands out for keeps).
  virtual void predict(std::span<const Tensor* const> inputs, State* state,
                       std::vector<Tensor>& outputs) = 0;
  // A zero-filled state for this function (empty when it declares none).
  virtual State make_state() const = 0;
  virtual int64_t peak_activation_bytes() const { return 0; }
  // Per-op timing where the backend can measure it (the native runtime); others return none.
  virtual void set_profiling(bool on) {}
  virtual std::vector<OpTiming> profile() const { return {}; }
  virtual std::vector<OpTiming> profile_ops() const { return {}; }
};

struct CompileRequest {
  std::string path;                 // the model as given to Model::load
  const format::ModelAsset* asset;  // read by the facade (description, program, weights)
  // The function to compile. A backend that keeps its own program (the native one) moves the
  // operations out (mil::take_body): afterwards the caller reads only the signature (name,
  // inputs, attributes, the block's outputs).
  mil::Function* function;
  ComputeUnits compute_units = ComputeUnits::kAll;
  int threads = 0;
};

class BackendInterface {
 public:
  virtual ~BackendInterface() = default;
  virtual Backend kind() const = 0;
  virtual const char* name() const = 0;  // "native", "coreml"
  // Whether this backend can run models on this system (built in, and the system has what it
  // needs); when not, unavailable_reason() says why.
  virtual bool available() const = 0;
  virtual std::string unavailable_reason() const { return {}; }
  // Whether this backend has an implementation of the op type (any opset, any input types).
  virtual bool supports(std::string_view op_type) const = 0;
  // Every op of `function` (nested blocks included) the backend cannot run, one entry each:
  // "type (op 'name' at line L: reason)"; empty when it runs them all.
  virtual std::vector<std::string> unsupported_ops(const mil::Function& function) const = 0;
  // Compiles one function; throws coreml::Error (naming the model) when it cannot.
  virtual std::unique_ptr<CompiledFunction> compile(const CompileRequest& request) const = 0;
};

// The backends built into this library, and the one Backend::kAuto picks.
const BackendInterface& native_backend();
// Null when this build has no Core ML backend.
const BackendInterface* coreml_backend();
// Installs the Core ML backend: Apple builds do it themselves; the Linux test build installs the
// same backend compiled against a stand-in for CoreML.framework (tests/coreml_stand_in).
void install_coreml_backend(std::shared_ptr<const BackendInterface> backend);
// The backend `requested` resolves to, or an Error saying why it cannot be had.
const BackendInterface& choose_backend(Backend requested, ComputeUnits compute_units);

const char* backend_name(Backend backend);
const char* compute_units_name(ComputeUnits units);

}  // namespace coreml::backends
