// Runs one function of an ML Program on the CPU.
//
// Load time: every op is bound to its kernels (all unsupported ops are reported at once),
// names become slots, constants (const ops, literals) are bound without copying weight data,
// constant subgraphs are folded, the fusion passes rewrite known patterns (runtime/fusion),
// prepared kernels are created (weights packed), and the state-aliasing proofs are made.
//
// Run time, per input signature (the shapes and dtypes of the inputs):
//  - the first run is dynamic: ops run in program order, outputs come from a recycling heap
//    allocator, and what each op produced (shape, layout, which buffer) is recorded;
//  - from that record a memory plan is made (runtime/memory_plan.h): one arena with every
//    activation at a fixed offset, views prebuilt, buffers reused in place where safe;
//  - later runs replay the plan: inputs are copied into the arena, each prepared kernel runs
//    on prebound tensors (no allocation), simple kernels get their planned buffers.
// A function with nested blocks (cond, while_loop) always runs dynamically, and so does a
// signature whose ops produce different shapes from run to run.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/model_reader.h"
#include "runtime/kernel_registry.h"

namespace coreml::runtime {

class RecyclingAllocator;
struct MemoryPlan;

struct ExecutorOptions {
  bool prepared_kernels = true;  // false: simple (reference) kernels only
  bool fusion = true;            // the plan-time fusion passes
  bool memory_plan = true;       // false: every run is dynamic
  // The defaults, overridden by COREML_PREPARED=0, COREML_FUSION=0, COREML_MEMORY_PLAN=0.
  static ExecutorOptions from_environment();
};

// Time spent per op type in the runs since profiling was enabled.
struct OpProfile {
  std::string op_type;
  int64_t calls = 0;
  double milliseconds = 0;
  std::string name;  // profile_ops(): the op's first output
};

class FunctionExecutor {
 public:
  // Takes `function` to keep (the fusion passes rewrite it, the compiled steps point into it): a
  // caller done with it moves it in (mil::take_body) rather than holding a second copy.
  FunctionExecutor(const format::ModelAsset& asset, mil::Function function,
                   const KernelRegistry& registry, std::shared_ptr<ThreadPool> pool,
                   ExecutorOptions options = ExecutorOptions::from_environment());
  ~FunctionExecutor();
  // Steps and the input order point into the function it holds.
  FunctionExecutor(const FunctionExecutor&) = delete;
  FunctionExecutor& operator=(const FunctionExecutor&) = delete;

  // `inputs`: the function's non-state inputs in declaration order, in their declared dtypes.
  // `states`: its state inputs in declaration order; read and written in place.
  // `outputs` receives the block outputs in order. They may share memory with the executor
  // (arena, constants) or a state, and stay valid until the next run: clone what you keep.
  // Allocates nothing once the signature is planned and every op has a prepared kernel.
  void run(std::span<const Tensor* const> inputs, std::span<Tensor* const> states,
           std::vector<Tensor>& outputs);

  // Bytes of activation memory the last run used (the arena, or the heap at its peak).
  int64_t peak_activation_bytes() const;
  // The function it runs (after the fusion passes).
  const mil::Function& function() const { return function_; }
  // Names of the non-state inputs and of the states, in the order run() takes them.
  const std::vector<const mil::NamedType*>& input_order() const { return input_order_; }
  const std::vector<const mil::NamedType*>& state_order() const { return state_order_; }

  // Per-op-type timing (off by default: it costs a clock read per op).
  void set_profiling(bool on);
  std::vector<OpProfile> profile() const;
  // Op by op in program order (ops that ran at least once).
  std::vector<OpProfile> profile_ops() const;

  // For tests: how many top-level ops have a prepared kernel, and whether the last run
  // replayed a memory plan.
  int prepared_op_count() const;
  // The types of the top-level ops that run, in order (after folding and fusion).
  std::vector<std::string> op_types() const;
  bool last_run_planned() const { return last_run_planned_; }
  // Bytes the dynamic runs' buffers hold now (after a planned signature's recording: only
  // what the caller still holds of its outputs).
  int64_t dynamic_buffer_bytes() const;

 private:
  struct Step;
  struct CompiledBlock;
  struct Plan;
  struct Recording;

  int slot(const std::string& name, bool define);
  CompiledBlock compile_block(const mil::Block& block, const std::vector<mil::NamedType>& inputs);
  void bind_constant_op(const mil::Operation& op);
  RtValue make_constant(const mil::Value& value, const std::string& where);
  void fold_constants(CompiledBlock& block);
  void create_prepared_kernels(CompiledBlock& block);
  void plan_releases(CompiledBlock& block);

  // Dynamic execution (every run of an unplanned signature; records when `recording`).
  void run_dynamic(std::span<const Tensor* const> inputs, std::span<Tensor* const> states,
                   std::vector<Tensor>& outputs, Recording* recording);
  void execute_step(Step& step, std::vector<RtValue>& env, RecyclingAllocator& allocator,
                    Recording* recording, size_t step_index);
  // Runs a step through its prepared kernel; false when the kernel declined these inputs.
  bool execute_prepared_dynamic(Step& step, std::vector<RtValue>& env,
                                RecyclingAllocator& allocator, Recording* recording,
                                size_t step_index);
  void reshape_step(Step& step, const std::vector<const RtValue*>& inputs);
  int recorded_in_place_input(const Step& step, const std::vector<const RtValue*>& inputs,
                              const Recording& recording, size_t step_index) const;
  std::vector<RtValue> execute_block(CompiledBlock& block, std::vector<RtValue>& env,
                                     RecyclingAllocator& allocator,
                                     const std::vector<RtValue>& inputs, bool top_level,
                                     Recording* recording);

  // Planned execution.
  std::unique_ptr<Plan> build_plan(const Recording& recording,
                                   std::span<const Tensor* const> inputs,
                                   std::span<Tensor* const> states);
  bool run_planned(Plan& plan, std::span<const Tensor* const> inputs,
                   std::span<Tensor* const> states, std::vector<Tensor>& outputs);
  void bind_plan_states(Plan& plan, std::span<Tensor* const> states);
  void reshape_for_plan(Plan& plan);

  const format::ModelAsset& asset_;
  mil::Function function_;  // after the fusion passes
  const KernelRegistry& registry_;
  std::shared_ptr<ThreadPool> pool_;
  ExecutorOptions options_;
  std::vector<const mil::NamedType*> input_order_;
  std::vector<const mil::NamedType*> state_order_;
  std::unordered_map<std::string, int> slots_;  // value name -> slot; emptied after load
  std::vector<long> last_use_;  // top-level step index of each slot's last use (-1 none)
  int nesting_ = 0;
  std::vector<RtValue> constants_;  // by slot; `set` when the slot is a constant
  std::unique_ptr<CompiledBlock> main_;
  std::unique_ptr<RecyclingAllocator> allocator_;
  bool has_nested_blocks_ = false;

  std::vector<std::unique_ptr<Plan>> plans_;         // most recently used first
  Plan* reshaped_for_ = nullptr;                     // the plan the prepared kernels are shaped for
  std::map<std::vector<int64_t>, int> unplannable_;  // signatures whose shapes vary per run
  bool last_run_planned_ = false;
  int64_t peak_bytes_ = 0;

  bool profiling_ = false;
  std::map<std::string, OpProfile> profile_;
};

// Lists every op type in `function` (nested blocks included) without a kernel, or that its
// opset or input types rule out; empty if all are supported. Each entry:
// "type (op 'name' at line L: reason)".
std::vector<std::string> unsupported_ops(const mil::Function& function,
                                         const KernelRegistry& registry);

}  // namespace coreml::runtime
