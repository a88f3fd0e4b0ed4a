// What a kernel sees of one operation while it runs: its inputs (by parameter name), its
// constant parameters, its declared outputs, the thread pool, and (for cond/while_loop) a
// way to run its nested blocks.
//
// Numeric rule for every kernel: fp16/bf16 tensors stay in their dtype in memory; arithmetic
// runs in fp32 (fp64 for fp64 tensors) and rounds to the op's declared output dtype once, at
// the end of each op (round to nearest even).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coreml/error.h"
#include "mil/ir.h"
#include "runtime/raw_constant.h"
#include "runtime/thread_pool.h"
#include "runtime/value.h"

namespace coreml::runtime {

// Allocates output buffers (the executor recycles or plans activation memory through it).
class BufferAllocator {
 public:
  virtual ~BufferAllocator() = default;
  // A dense buffer for output `output` of the running op.
  virtual Tensor allocate(size_t output, const std::vector<int64_t>& shape, DType dtype) = 0;
};

class OpContext {
 public:
  using BlockRunner =
      std::function<std::vector<RtValue>(size_t block_index, const std::vector<RtValue>& inputs)>;

  OpContext(const mil::Operation& op, std::vector<std::vector<const RtValue*>> inputs,
            std::vector<RtValue>& outputs, BufferAllocator& allocator, ThreadPool& pool,
            BlockRunner run_block = {});

  const mil::Operation& op() const { return op_; }
  ThreadPool& pool() const { return pool_; }

  // ---- inputs ----
  bool has(std::string_view param) const;
  // Number of bindings of a (variadic) input; 0 when absent.
  size_t count(std::string_view param) const;
  const RtValue& value(std::string_view param, size_t index = 0) const;
  // The dense tensor bound to `param` (decompressing a compressed constant if needed).
  const Tensor& in(std::string_view param, size_t index = 0) const {
    return value(param, index).dense();
  }
  std::vector<const RtValue*> values(std::string_view param) const;

  // ---- constant parameters: read from an input (literal or constant value) or, as iOS17 and
  // older constexpr ops store them, from an attribute of the same name ----
  int64_t get_int(std::string_view param) const;
  int64_t get_int(std::string_view param, int64_t fallback) const;
  double get_float(std::string_view param) const;
  double get_float(std::string_view param, double fallback) const;
  bool get_bool(std::string_view param, bool fallback) const;
  std::string get_string(std::string_view param) const;
  std::string get_string(std::string_view param, std::string fallback) const;
  std::vector<int64_t> get_ints(std::string_view param) const;
  std::optional<std::vector<int64_t>> get_ints_if(std::string_view param) const;
  // A constant in its stored type (sub-byte indices, quantized data, LUTs...).
  std::shared_ptr<const RawConstant> raw(std::string_view param) const;
  bool has_param(std::string_view param) const;  // input or attribute

  // ---- outputs ----
  size_t output_count() const { return op_.outputs.size(); }
  // The declared MIL type of output i.
  const mil::Type& declared(size_t i) const;
  // The declared element type as a Tensor dtype (Error if it has none).
  DType output_dtype(size_t i) const;
  // Allocates output i (in `dtype`, default the declared one).
  Tensor& allocate_output(size_t i, const std::vector<int64_t>& shape);
  Tensor& allocate_output(size_t i, const std::vector<int64_t>& shape, DType dtype);
  // Sets output i to an existing tensor (a view, or an input passed through).
  void set_output(size_t i, Tensor tensor);
  void set_compressed_output(size_t i, std::shared_ptr<const CompressedWeight> weight);
  RtValue& output_value(size_t i);

  // ---- nested blocks (cond, while_loop) ----
  size_t block_count() const { return op_.blocks.size(); }
  std::vector<RtValue> run_block(size_t index, const std::vector<RtValue>& inputs) const;

  // Throws coreml::Error prefixed with this op's name and type.
  template <typename... Args>
  [[noreturn]] void fail(Args&&... args) const {
    coreml::fail(ErrorCode::kInvalidArgument, where(), std::forward<Args>(args)...);
  }
  template <typename... Args>
  [[noreturn]] void unsupported(Args&&... args) const {
    coreml::fail(ErrorCode::kUnsupported, where(), std::forward<Args>(args)...);
  }
  std::string where() const;

  // Attributes stored as weight-file blobs (iOS16/17 constexpr parameters), resolved by the
  // executor; raw() and the get_* readers look here before the attribute literal.
  using AttributeConstants = std::map<std::string, RtValue, std::less<>>;
  // Memory hints the executor proves safe at load time (see FunctionExecutor::plan_state_aliasing).
  enum Hint : uint32_t {
    kNone = 0,
    // read_state may return the state's own memory: no write to that state happens while the
    // value read is alive.
    kAliasStateRead = 1u << 0,
    // slice_update may write into `x` in place and return it: `x` dies here, and `x` aliases a
    // state that this op's result is written back to before anyone reads that state again.
    kUpdateInPlace = 1u << 1,
  };
  bool hint(Hint h) const { return (hints_ & h) != 0; }
  void set_hints(uint32_t hints) { hints_ = hints; }

  void set_attribute_constants(const AttributeConstants* constants) {
    attribute_constants_ = constants;
  }

 private:
  const mil::Value* attribute(std::string_view name) const;
  int input_index(std::string_view param) const;
  // A constant parameter as a dense tensor (input value or attribute literal).
  Tensor param_tensor(std::string_view param) const;

  const mil::Operation& op_;
  std::vector<std::string_view> names_;  // parameter names, parallel to inputs_
  std::vector<std::vector<const RtValue*>> inputs_;
  std::vector<RtValue>& outputs_;
  BufferAllocator& allocator_;
  ThreadPool& pool_;
  BlockRunner run_block_;
  const AttributeConstants* attribute_constants_ = nullptr;
  uint32_t hints_ = kNone;
};

using Kernel = void (*)(OpContext&);

}  // namespace coreml::runtime
