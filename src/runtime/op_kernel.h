// The prepared kernel contract (XNNPACK's create -> reshape -> run, in three calls):
//
//  create   once per op, when a function is loaded: read the constant parameters, check what
//           can be checked, choose the variant and pack constant weights into the layout the
//           variant streams best (packing is shared: see runtime/packed_weights.h). A factory
//           that returns nullptr leaves the op to its simple kernel (runtime::Kernel).
//  reshape  whenever the shapes, dtypes or layouts of the inputs change (once per input
//           signature): define every output — a new dense buffer or a view of an input — and
//           ask for scratch memory. Reads only shapes, dtypes, strides and constant values.
//  run      every prediction: compute, nothing else. No allocation, no parameter parsing; the
//           executor has bound every input and output (outputs live in the function's arena,
//           planned once per input signature).
//
// Ops without a prepared kernel keep their simple `void(OpContext&)` kernel, which is also
// the reference the prepared kernels are tested against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "coreml/tensor.h"
#include "runtime/op_context.h"
#include "runtime/thread_pool.h"
#include "runtime/value.h"

namespace coreml::runtime {

// Every input binding of an op has a flat index: its parameters in the op's order, each
// parameter's bindings in order (a variadic `values` takes several).
class KernelInit {
 public:
  KernelInit(const OpContext& params, std::vector<int> first_binding,
             std::vector<const RtValue*> bindings)
      : params_(params), first_(std::move(first_binding)), bindings_(std::move(bindings)) {}

  // Constant parameters (get_int, get_ints, get_string, raw, ...) and the op itself.
  const OpContext& params() const { return params_; }
  const mil::Operation& op() const { return params_.op(); }

  // Flat index of binding `index` of `param`, or -1 when absent.
  int binding(std::string_view param, size_t index = 0) const;
  size_t binding_count(std::string_view param) const { return params_.count(param); }
  // The constant bound at `b` (a const op, a literal or a folded value), or nullptr when
  // the binding is only known at run time.
  const RtValue* constant(int b) const;

  template <typename... Args>
  [[noreturn]] void fail(Args&&... args) const {
    params_.fail(std::forward<Args>(args)...);
  }

 private:
  const OpContext& params_;
  std::vector<int> first_;                // per parameter: flat index of its first binding
  std::vector<const RtValue*> bindings_;  // per flat binding: the constant or nullptr
};

// What reshape() sees and defines. Inputs are the real tensors of the signature being planned
// (their data must not be read unless constant()).
class ReshapeContext {
 public:
  struct OutputSpec {
    bool defined = false;
    bool view = false;
    DType dtype = DType::kFloat32;
    std::vector<int64_t> shape;
    // Views: of input binding `source`, starting `offset` elements after its first element.
    int source = -1;
    int64_t offset = 0;
    std::vector<int64_t> strides;
  };

  ReshapeContext(const mil::Operation& op, const std::vector<const RtValue*>& inputs,
                 std::vector<OutputSpec>& outputs, size_t& scratch_bytes, uint32_t hints,
                 int threads)
      : op_(op),
        inputs_(inputs),
        outputs_(outputs),
        scratch_bytes_(scratch_bytes),
        hints_(hints),
        threads_(threads) {}

  // Threads run() will have (ThreadPool::size()), for per-thread scratch.
  int threads() const { return threads_; }

  // These inputs are not a case this kernel handles (say, integer dtypes): the op's simple
  // kernel runs instead, for as long as the inputs keep these shapes and types.
  void decline() { declined_ = true; }
  bool declined() const { return declined_; }

  const Tensor& in(int b) const { return inputs_[static_cast<size_t>(b)]->tensor; }
  const RtValue& value(int b) const { return *inputs_[static_cast<size_t>(b)]; }
  bool constant(int b) const { return inputs_[static_cast<size_t>(b)]->constant; }
  size_t input_count() const { return inputs_.size(); }

  // A new dense (C-ordered) buffer.
  void set_output(size_t i, std::vector<int64_t> shape, DType dtype);
  // A view of input `source`: `offset` elements after in(source).data(), with `strides` in
  // elements. The executor checks that the view stays inside the source's storage.
  void set_output_view(size_t i, int source, int64_t offset, std::vector<int64_t> shape,
                       std::vector<int64_t> strides);
  // The whole of input `source` with another shape (same element count; source dense).
  void set_output_alias(size_t i, int source, std::vector<int64_t> shape);
  // Bytes of scratch memory run() may use (planned with the activations; 64-byte aligned).
  void request_scratch(size_t bytes) { scratch_bytes_ = bytes; }

  // Memory hints proven at load (OpContext::Hint), e.g. that a state read may alias.
  bool hint(OpContext::Hint h) const { return (hints_ & h) != 0; }
  // The declared dtype of output i (Error when it has none).
  DType declared_dtype(size_t i) const;
  size_t output_count() const { return outputs_.size(); }
  const mil::Operation& op() const { return op_; }
  std::string where() const;
  template <typename... Args>
  [[noreturn]] void fail(Args&&... args) const {
    coreml::fail(ErrorCode::kInvalidArgument, where(), std::forward<Args>(args)...);
  }

 private:
  const mil::Operation& op_;
  const std::vector<const RtValue*>& inputs_;
  std::vector<OutputSpec>& outputs_;
  size_t& scratch_bytes_;
  uint32_t hints_;
  int threads_;
  bool declined_ = false;
};

// What run() sees: bound inputs and outputs. Never allocates.
class RunContext {
 public:
  RunContext(const RtValue* const* inputs, Tensor* const* outputs, ThreadPool& pool,
             std::byte* scratch)
      : inputs_(inputs), outputs_(outputs), pool_(pool), scratch_(scratch) {}

  const Tensor& in(int b) const { return inputs_[b]->tensor; }
  const RtValue& value(int b) const { return *inputs_[b]; }
  Tensor& out(size_t i) const { return *outputs_[i]; }
  ThreadPool& pool() const { return pool_; }
  std::byte* scratch() const { return scratch_; }

 private:
  const RtValue* const* inputs_;
  Tensor* const* outputs_;
  ThreadPool& pool_;
  std::byte* scratch_;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual void reshape(ReshapeContext& ctx) = 0;
  virtual void run(RunContext& ctx) = 0;
  // A binding whose buffer output 0 may overwrite (when the planner finds it dies here and
  // has output 0's shape, dtype and dense layout), or -1. run() must then be correct with
  // out(0) aliasing in(b).
  virtual int in_place_input() const { return -1; }
};

using KernelFactory = std::unique_ptr<OpKernel> (*)(const KernelInit& init);

}  // namespace coreml::runtime
