// Runs one function of an ML Program on the CPU.
//
// Load time: every op is bound to a kernel (all unsupported ops are reported at once), names
// become slots, constants (const ops, literals) are bound without copying weight data, and
// constant subgraphs (including constexpr decompression that must be materialized) are folded.
// Run time: ops execute in program order (MIL is in topological order by construction); a
// value's buffer returns to the allocator after its last use, so activation memory is
// reused across ops and across predictions with the same shapes.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/model_reader.h"
#include "runtime/kernel_registry.h"

namespace coreml::runtime {

class RecyclingAllocator;

class FunctionExecutor {
 public:
  FunctionExecutor(const format::ModelAsset& asset, const mil::Function& function,
                   const KernelRegistry& registry, ThreadPool& pool);
  ~FunctionExecutor();

  // `inputs` and `states` by function input name, already in the declared dtypes. State tensors
  // are read and written in place. Returns the block outputs in declaration order.
  std::vector<Tensor> run(const std::map<std::string, Tensor>& inputs,
                          const std::map<std::string, Tensor>& states);

  // Bytes of activation buffers the last run needed at its peak.
  int64_t peak_activation_bytes() const;
  const mil::Function& function() const { return function_; }

 private:
  struct Step;
  struct CompiledBlock {
    std::vector<int> input_slots;
    std::vector<Step> steps;
    std::vector<int> output_slots;
  };
  struct Step {
    const mil::Operation* op = nullptr;
    Kernel kernel = nullptr;
    // Per input parameter (op.inputs order), per binding: slot index, or -1 - k for the k-th
    // literal of this step.
    std::vector<std::vector<int>> input_slots;
    std::vector<RtValue> literals;
    // Attributes whose value is a weight-file blob (iOS16/17 constexpr parameters).
    OpContext::AttributeConstants attribute_constants;
    std::vector<int> output_slots;
    std::vector<CompiledBlock> blocks;
    std::vector<int> release_after;  // slots whose last use is this step (top level)
    uint32_t hints = 0;              // OpContext::Hint flags proven safe at load
  };

  int slot(const std::string& name, bool define);
  CompiledBlock compile_block(const mil::Block& block, const std::vector<mil::NamedType>& inputs);
  void bind_constant_op(const mil::Operation& op);
  RtValue make_constant(const mil::Value& value, const std::string& where);
  void fold_constants(CompiledBlock& block);
  void plan_releases(CompiledBlock& block);
  void plan_state_aliasing(CompiledBlock& block);
  void execute_step(Step& step, std::vector<RtValue>& env, BufferAllocator& allocator);
  std::vector<RtValue> execute_block(CompiledBlock& block, std::vector<RtValue>& env,
                                     BufferAllocator& allocator, const std::vector<RtValue>& inputs,
                                     bool release);

  const format::ModelAsset& asset_;
  const mil::Function& function_;
  const KernelRegistry& registry_;
  ThreadPool& pool_;
  std::unordered_map<std::string, int> slots_;
  std::vector<long> last_use_;  // top-level step index of each slot's last use (-1 none)
  int nesting_ = 0;
  std::vector<RtValue> constants_;  // by slot; `set` when the slot is a constant
  CompiledBlock main_;
  std::unique_ptr<RecyclingAllocator> allocator_;
};

// Lists every op type in `function` (nested blocks included) without a kernel; empty if all
// are supported. Each entry: "type (op 'name' at line L)".
std::vector<std::string> unsupported_ops(const mil::Function& function, const KernelRegistry& registry);

}  // namespace coreml::runtime
