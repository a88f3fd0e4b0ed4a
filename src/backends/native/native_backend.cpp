// The native backend: binds the facade's checked inputs and the State's tensors to a
// runtime::FunctionExecutor.
#include "backends/native/native_backend.h"

#include "model/input_check.h"
#include "runtime/executor.h"
#include "runtime/limits.h"
#include "runtime/raw_constant.h"
#include "runtime/thread_pool.h"

namespace coreml::backends {
namespace {

class NativeFunction final : public CompiledFunction {
 public:
  explicit NativeFunction(const CompileRequest& request)
      : executor_(*request.asset, mil::take_body(*request.function),
                  runtime::KernelRegistry::global(), runtime::ThreadPool::shared(request.threads)) {
    for (const auto* state : executor_.state_order()) {
      state_shapes_.push_back(model_detail::declared_shape(state->type.tensor));
    }
  }

  void predict(std::span<const Tensor* const> inputs, State* state,
               std::vector<Tensor>& outputs) override {
    bind_states(state);
    executor_.run(inputs, bound_states_, outputs);
  }

  State make_state() const override { return make_tensor_state(executor_.function()); }
  int64_t peak_activation_bytes() const override { return executor_.peak_activation_bytes(); }
  void set_profiling(bool on) override { executor_.set_profiling(on); }

  std::vector<OpTiming> profile() const override {
    std::vector<OpTiming> out;
    for (const auto& p : executor_.profile()) out.push_back({p.op_type, p.calls, p.milliseconds});
    return out;
  }

  std::vector<OpTiming> profile_ops() const override {
    std::vector<OpTiming> out;
    for (const auto& p : executor_.profile_ops()) {
      out.push_back({p.op_type, p.calls, p.milliseconds, p.name});
    }
    return out;
  }

 private:
  // The State's tensors in the executor's state order, each checked against its declaration.
  void bind_states(State* state) {
    const auto& order = executor_.state_order();
    bound_states_.resize(order.size());
    if (order.empty()) return;
    if (!state) {
      fail(ErrorCode::kInvalidArgument, "function '", executor_.function().name,
           "' has states: create one with make_state() and call predict(inputs, state)");
    }
    if (StateAccess::backend_state(*state)) {
      fail(ErrorCode::kInvalidArgument, "function '", executor_.function().name,
           "' runs on the native backend, but the State lives in Core ML; make it with "
           "make_state() of a model loaded with the native backend");
    }
    auto& tensors = StateAccess::tensors(*state);
    for (size_t k = 0; k < order.size(); ++k) {
      const mil::NamedType& in = *order[k];
      const auto it = tensors.find(in.name);
      if (it == tensors.end()) {
        fail(ErrorCode::kInvalidArgument, "the State has no '", in.name, "' that function '",
             executor_.function().name,
             "' declares; make it with make_state() of a model whose states match");
      }
      const auto expected = runtime::tensor_dtype(in.type.tensor.dtype);
      const auto& declared = state_shapes_[k];
      if (!expected || it->second.dtype() != *expected || it->second.shape() != declared ||
          !it->second.is_contiguous()) {
        fail(ErrorCode::kInvalidArgument, "state '", in.name, "': the State holds ",
             dtype_name(it->second.dtype()), " ", model_detail::shape_text(it->second.shape()),
             ", function '", executor_.function().name, "' declares ",
             mil::data_type_name(in.type.tensor.dtype), " ", model_detail::shape_text(declared));
      }
      bound_states_[k] = &it->second;
    }
  }

  runtime::FunctionExecutor executor_;
  std::vector<std::vector<int64_t>> state_shapes_;
  std::vector<Tensor*> bound_states_;  // reused: a steady loop allocates nothing
};

}  // namespace

State make_tensor_state(const mil::Function& function) {
  State state;
  auto& tensors = StateAccess::tensors(state);
  for (const auto& in : function.inputs) {
    if (in.type.kind != mil::Type::Kind::kState) continue;
    const auto dtype = runtime::tensor_dtype(in.type.tensor.dtype);
    if (!dtype) fail(ErrorCode::kUnsupported, "state '", in.name, "' has an unsupported type");
    const auto shape = model_detail::declared_shape(in.type.tensor);
    runtime::check_tensor_budget(shape, *dtype, "state '" + in.name + "': ");
    tensors[in.name] = Tensor::zeros(shape, *dtype);
  }
  return state;
}

bool NativeBackend::supports(std::string_view op_type) const {
  return runtime::KernelRegistry::global().find_def(op_type) != nullptr;
}

std::vector<std::string> NativeBackend::unsupported_ops(const mil::Function& function) const {
  return runtime::unsupported_ops(function, runtime::KernelRegistry::global());
}

std::unique_ptr<CompiledFunction> NativeBackend::compile(const CompileRequest& request) const {
  return std::make_unique<NativeFunction>(request);
}

}  // namespace coreml::backends
