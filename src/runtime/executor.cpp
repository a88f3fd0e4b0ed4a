#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "coreml/error.h"
#include "runtime/env_flag.h"
#include "runtime/fusion/fusion.h"
#include "runtime/limits.h"
#include "runtime/memory_plan.h"
#include "runtime/packed_weights.h"
#include "runtime/state_aliasing.h"

namespace coreml::runtime {

namespace {

std::vector<int64_t> dense_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// A zero tensor with this exact layout (strides included).
Tensor placeholder(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                   DType dtype) {
  int64_t extent = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return Tensor::zeros(shape, dtype);
    extent += (shape[d] - 1) * strides[d];
  }
  return Tensor::zeros({extent}, dtype).as_strided(shape, strides, 0);
}

}  // namespace

ExecutorOptions ExecutorOptions::from_environment() {
  ExecutorOptions o;
  o.prepared_kernels = env_flag("COREML_PREPARED", true);
  o.fusion = env_flag("COREML_FUSION", true);
  o.memory_plan = env_flag("COREML_MEMORY_PLAN", true);
  return o;
}

// Hands out activation buffers for dynamic runs, reusing any buffer nobody references any
// more. A buffer is free again as soon as the executor drops the last value living in it
// (after that value's last use) and no output or view returned to the caller still holds it.
// While recording it logs which buffer went to which output of the running op.
class RecyclingAllocator : public BufferAllocator {
 public:
  struct HandedOut {
    size_t output;
    const std::byte* base;  // the buffer's first byte (tensors made on it share it)
    size_t bytes;           // what was asked for
  };

  Tensor allocate(size_t output, const std::vector<int64_t>& shape, DType dtype) override {
    const auto count = checked_element_count(shape);
    if (!count) fail(ErrorCode::kInvalidArgument, "invalid output shape (negative or too large)");
    const size_t wanted = static_cast<size_t>(*count) * dtype_size(dtype);
    std::shared_ptr<Storage> keep = buffer(wanted, &shape, dtype);
    if (logging_) log_.push_back({output, keep->data(), wanted});
    return Tensor::from_blob(keep->data(), shape, dtype, std::static_pointer_cast<void>(keep));
  }

  // A free buffer of at least `wanted` bytes, or a new one (checked against the budgets of
  // coreml/limits.h: as a tensor of `shape` when given, else as scratch bytes).
  std::shared_ptr<Storage> buffer(size_t wanted, const std::vector<int64_t>* shape = nullptr,
                                  DType dtype = DType::kUInt8) {
    const size_t bytes = std::max<size_t>(64, wanted);
    // A free buffer up to 4x the request serves it; while recording, one of a large request
    // (which, freed, goes back to the system: tensor/storage.cpp) only when nearly its size, as
    // the plan's arena will be: else the run holds more than the arena (a Whisper encoder's
    // recording peaked at 25 MB of buffers for a 16 MB arena, 20 MB so).
    const size_t most = recording_ && bytes >= kTightFitBytes ? bytes + bytes / 4 : bytes * 4;
    std::shared_ptr<Storage>* best = nullptr;
    for (auto& b : buffers_) {
      if (b.use_count() == 1 && b->nbytes() >= bytes && b->nbytes() <= most &&
          (!best || b->nbytes() < (*best)->nbytes())) {
        best = &b;
      }
    }
    if (!best) {
      // A recorded run happens once per input signature: rather than keep buffers of sizes
      // that fit no request now, it gives them back, so that it holds about what is live (the
      // plan's arena), not that plus every size the run has seen (a UNet's 55 MB against its
      // arena's 33). Repeated dynamic runs keep theirs, to be reused run after run.
      if (recording_) release_free();
      if (shape) {
        check_activation_allocation(*shape, dtype, total_bytes_);
      } else {
        check_activation_allocation({static_cast<int64_t>(bytes)}, DType::kUInt8, total_bytes_);
      }
      buffers_.push_back(Storage::allocate(bytes));
      best = &buffers_.back();
      total_bytes_ += static_cast<int64_t>(bytes);
      peak_bytes_ = std::max(peak_bytes_, total_bytes_);
    }
    return *best;
  }

  void start_log() {
    log_.clear();
    logging_ = true;
  }
  const std::vector<HandedOut>& stop_log() {
    logging_ = false;
    return log_;
  }
  int64_t total_bytes() const { return total_bytes_; }
  // The most the buffers held at once since start_peak() (a recorded run gives some back as it
  // goes: its end is not its peak).
  int64_t peak_bytes() const { return peak_bytes_; }
  void start_peak() { peak_bytes_ = total_bytes_; }

  // Whether the run is recorded (once per signature): then large requests fit tightly and a
  // buffer that must be made first gives back the free ones (see buffer()).
  void set_recording(bool on) { recording_ = on; }

  // Gives back every buffer nobody holds (a recorded run's, before its plan's arena is made:
  // planned runs need them no more, and kept they would add up with the arena).
  void release_free() {
    std::erase_if(buffers_, [&](const std::shared_ptr<Storage>& b) {
      if (b.use_count() != 1) return false;
      total_bytes_ -= static_cast<int64_t>(b->nbytes());
      return true;
    });
  }

 private:
  static constexpr size_t kTightFitBytes = size_t{1} << 20;
  std::vector<std::shared_ptr<Storage>> buffers_;
  int64_t total_bytes_ = 0;
  int64_t peak_bytes_ = 0;
  bool logging_ = false;
  bool recording_ = false;
  std::vector<HandedOut> log_;
};

namespace {

// Heap allocation for values computed once at load time.
class HeapAllocator : public BufferAllocator {
 public:
  Tensor allocate(size_t, const std::vector<int64_t>& shape, DType dtype) override {
    return Tensor::empty(shape, dtype);
  }
};

std::string op_label(const mil::Operation& op) {
  std::string label = op.type + " (op '" + op.name() + "'";
  if (op.location.line) label += " at line " + std::to_string(op.location.line);
  return label + ")";
}

const mil::DataType* main_input_type(const mil::Operation& op, const KernelDef* def,
                                     const std::map<std::string, const mil::Type*>& types) {
  if (!def || def->main_input.empty()) return nullptr;
  const auto arg = op.inputs.find(def->main_input);
  if (arg == op.inputs.end() || arg->second.bindings.empty()) return nullptr;
  const mil::Binding& b = arg->second.bindings.front();
  if (b.value) return &b.value->type.tensor.dtype;
  const auto it = types.find(b.name);
  return it == types.end() ? nullptr : &it->second->tensor.dtype;
}

void collect_unsupported(const mil::Block& block, const KernelRegistry& registry, int ios,
                         std::map<std::string, const mil::Type*>& types,
                         std::vector<std::string>& out) {
  for (const auto& input : block.inputs) types[input.name] = &input.type;
  for (const auto& op : block.operations) {
    if (op.type != "const") {
      const KernelDef* def = registry.find_def(op.type);
      const auto reason = registry.unsupported_reason(op, ios, main_input_type(op, def, types));
      if (reason) {
        std::string label = op_label(op);
        label.insert(label.size() - 1, ": " + *reason);
        out.push_back(std::move(label));
      }
    }
    for (const auto& nested : op.blocks) collect_unsupported(nested, registry, ios, types, out);
    for (const auto& output : op.outputs) types[output.name] = &output.type;
  }
}

bool is_stateful(const mil::Operation& op) {
  return op.type == "read_state" || op.type == "write_state";
}

// What a tensor looks like, for "did the inputs of this prepared kernel change?".
struct TensorMeta {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape, strides;
  bool constant = false;
  bool operator==(const TensorMeta&) const = default;
};

TensorMeta meta_of(const RtValue& v) {
  TensorMeta m;
  m.dtype = v.dtype();
  m.shape = v.shape();
  if (!v.compressed) m.strides = v.tensor.strides();
  m.constant = v.constant;
  return m;
}

// Random ops draw new values on every prediction (seed -1): never folded at load.
bool is_random(const mil::Operation& op) { return op.type.rfind("random_", 0) == 0; }

}  // namespace

std::vector<std::string> unsupported_ops(const mil::Function& function,
                                         const KernelRegistry& registry) {
  std::vector<std::string> out;
  std::map<std::string, const mil::Type*> types;
  for (const auto& input : function.inputs) types[input.name] = &input.type;
  const int ios = ios_version(function.opset).value_or(99);
  collect_unsupported(function.block, registry, ios, types, out);
  return out;
}

// ---------------------------------------------------------------------------------------
// Compiled program

struct FunctionExecutor::CompiledBlock {
  std::vector<int> input_slots;
  std::vector<Step> steps;
  std::vector<int> output_slots;
};

struct FunctionExecutor::Step {
  const mil::Operation* op = nullptr;
  const KernelDef* def = nullptr;
  Kernel kernel = nullptr;
  std::unique_ptr<OpKernel> prepared;
  // Per input parameter (op.inputs order), per binding: slot index, or -1 - k for the k-th
  // literal of this step.
  std::vector<std::vector<int>> input_slots;
  std::vector<int> flat_slots;  // the same, flattened (prepared kernels' binding indices)
  std::vector<RtValue> literals;
  // Attributes whose value is a weight-file blob (iOS16/17 constexpr parameters).
  OpContext::AttributeConstants attribute_constants;
  std::vector<int> output_slots;
  std::vector<CompiledBlock> blocks;
  std::vector<int> release_after;  // slots whose last use is this step (top level)
  uint32_t hints = 0;              // OpContext::Hint flags proven safe at load
  // Prepared kernels, dynamic runs: the input layouts the kernel was last reshaped for.
  std::vector<TensorMeta> shaped_for;
  std::vector<ReshapeContext::OutputSpec> specs;
  size_t scratch_bytes = 0;
  bool declined = false;  // the prepared kernel declined these inputs: run the simple kernel
  // Profiling.
  double milliseconds = 0;
  int64_t calls = 0;

  bool runs_prepared() const { return prepared && !declined; }
  const RtValue& input(const std::vector<RtValue>& env, int code) const {
    return code < 0 ? literals[static_cast<size_t>(-code - 1)] : env[static_cast<size_t>(code)];
  }
};

// What a recorded (dynamic) run learned about each value: which buffer it lives in, where,
// and how it is laid out.
struct FunctionExecutor::Recording {
  enum class Kind { kArena, kInput, kState, kConstant, kForeign };
  struct Buffer {
    Kind kind = Kind::kForeign;
    int index = -1;    // kArena: step; kInput/kState: position; kConstant: slot or literal
    size_t bytes = 0;  // kArena: bytes asked for
    const std::byte* base = nullptr;  // the buffer's first byte
  };
  struct Value {
    bool produced = false;
    int buffer = -1;
    int64_t byte_offset = 0;
    DType dtype = DType::kFloat32;
    std::vector<int64_t> shape, strides;
  };
  std::vector<Buffer> buffers;
  std::vector<Value> values;    // by slot
  std::vector<size_t> scratch;  // by top-level step

  int add_buffer(Buffer b) {
    buffers.push_back(b);
    return static_cast<int>(buffers.size()) - 1;
  }
  // Records `t` in `slot`, living in `buffer`.
  void note(int slot, const Tensor& t, int buffer) {
    Value& v = values[static_cast<size_t>(slot)];
    v.produced = true;
    v.buffer = buffer;
    v.dtype = t.dtype();
    v.shape = t.shape();
    v.strides = t.strides();
    v.byte_offset =
        buffer >= 0 && buffers[static_cast<size_t>(buffer)].base
            ? static_cast<const std::byte*>(t.data()) - buffers[static_cast<size_t>(buffer)].base
            : 0;
  }
};

// A memory plan for one input signature, and the prebound values that replay it.
struct FunctionExecutor::Plan {
  std::vector<int64_t> signature;
  std::shared_ptr<Storage> arena;
  std::vector<RtValue> env;  // persistent: arena values and views are prebuilt
  struct Expected {          // simple kernels' outputs, checked after each replayed run
    bool check = false;
    const std::byte* data = nullptr;
    std::vector<int64_t> shape, strides;
    DType dtype = DType::kFloat32;
  };
  struct StepBinding {
    std::vector<const RtValue*> inputs;  // per flat binding
    std::vector<Tensor*> outputs;
    std::byte* scratch = nullptr;
    std::vector<Expected> expected;  // simple kernels
    // Prepared views of values whose address changes per run (outputs of simple kernels
    // that allocate for themselves): rebuilt before the step runs.
    std::vector<size_t> dynamic_views;  // output indices
  };
  std::vector<StepBinding> steps;
  std::vector<int> input_slots;  // function input k -> its slot (an arena copy)
  struct StateView {
    int slot, state;
    int64_t byte_offset;
    std::vector<int64_t> shape, strides;
    DType dtype;
  };
  std::vector<StateView> state_views;
  std::vector<const std::byte*> bound_states;
  std::vector<std::vector<ReshapeContext::OutputSpec>> specs;  // prepared steps
  std::vector<bool> declined;                                  // per step, as recorded
  std::vector<size_t> scratch;                                 // per step, as recorded
  size_t arena_bytes = 0;
};

// Hands simple kernels their planned buffers during a replay.
class PlannedAllocator : public BufferAllocator {
 public:
  explicit PlannedAllocator(RecyclingAllocator& fallback) : fallback_(fallback) {}
  void start(const std::vector<Tensor>* planned) {
    planned_ = planned;
    mismatch_ = false;
  }
  Tensor allocate(size_t output, const std::vector<int64_t>& shape, DType dtype) override {
    if (planned_ && output < planned_->size()) {
      const Tensor& t = (*planned_)[output];
      if (t.numel() >= 0 && t.dtype() == dtype && t.shape() == shape && t.data() != nullptr) {
        return t;
      }
    }
    mismatch_ = true;
    return fallback_.allocate(output, shape, dtype);
  }
  bool mismatch() const { return mismatch_; }

 private:
  RecyclingAllocator& fallback_;
  const std::vector<Tensor>* planned_ = nullptr;
  bool mismatch_ = false;
};

// ---------------------------------------------------------------------------------------
// Load

FunctionExecutor::FunctionExecutor(const format::ModelAsset& asset, mil::Function function,
                                   const KernelRegistry& registry, std::shared_ptr<ThreadPool> pool,
                                   ExecutorOptions options)
    : asset_(asset),
      function_(std::move(function)),
      registry_(registry),
      pool_(std::move(pool)),
      options_(options),
      allocator_(std::make_unique<RecyclingAllocator>()) {
  const auto missing = unsupported_ops(function_, registry);
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 20) list += ", and " + std::to_string(missing.size() - 20) + " more";
    std::set<std::string> types;
    for (const auto& m : missing) types.insert(m.substr(0, m.find(' ')));
    std::string type_list;
    for (const auto& t : types) type_list += (type_list.empty() ? "" : ", ") + t;
    fail(ErrorCode::kUnsupported, "function '", function_.name,
         "' uses ops the native runtime does not support: ", type_list, " — ", list);
  }
  for (const auto& input : function_.inputs) {
    (input.type.kind == mil::Type::Kind::kState ? state_order_ : input_order_).push_back(&input);
  }
  // The passes rewrite the executor's own program in place: nothing else reads its operations.
  if (options_.fusion && options_.prepared_kernels) {  // fused ops only have prepared kernels
    fusion::fuse(function_);
  }
  main_ = std::make_unique<CompiledBlock>(compile_block(function_.block, function_.inputs));
  fold_constants(*main_);
  plan_releases(*main_);
  if (options_.prepared_kernels) create_prepared_kernels(*main_);

  // State aliasing proofs (top-level ops).
  std::set<int> state_slots;
  for (size_t i = 0; i < function_.inputs.size(); ++i) {
    if (function_.inputs[i].type.kind == mil::Type::Kind::kState)
      state_slots.insert(main_->input_slots[i]);
  }
  std::vector<int> uses(slots_.size(), 0);
  std::function<void(const CompiledBlock&)> count = [&](const CompiledBlock& b) {
    for (const auto& step : b.steps) {
      for (const auto& bindings : step.input_slots) {
        for (int s : bindings) {
          if (s >= 0) ++uses[static_cast<size_t>(s)];
        }
      }
      for (const auto& nested : step.blocks) count(nested);
    }
    for (int s : b.output_slots) ++uses[static_cast<size_t>(s)];
  };
  count(*main_);
  std::vector<AliasingStep> aliasing;
  for (const Step& step : main_->steps) {
    AliasingStep a;
    const auto slot_of = [&](const std::string& param) {
      size_t index = 0;
      for (const auto& [name, arg] : step.op->inputs) {
        if (name == param) {
          const auto& bindings = step.input_slots[index];
          return bindings.size() == 1 ? bindings[0] : -1;
        }
        ++index;
      }
      return -1;
    };
    if (step.op->type == "read_state") {
      a.kind = AliasingStep::Kind::kReadState;
      a.state = slot_of("input");
    } else if (step.op->type == "write_state") {
      a.kind = AliasingStep::Kind::kWriteState;
      a.state = slot_of("input");
      a.data = slot_of("data");
    } else if (step.def && !step.def->update_input.empty()) {
      a.kind = AliasingStep::Kind::kUpdate;
      a.target = slot_of(step.def->update_input);
    }
    a.output = step.output_slots.empty() ? -1 : step.output_slots[0];
    a.has_blocks = !step.blocks.empty();
    aliasing.push_back(a);
  }
  const auto hints = prove_state_aliasing(aliasing, state_slots, last_use_, uses);
  for (size_t i = 0; i < hints.size(); ++i) main_->steps[i].hints = hints[i];
  // The kernels have packed their weights: the last huge page's unused tail can go back.
  release_unused_huge_page();
  // The names were for binding the steps; runs index the slots (constants_ has one entry each).
  std::unordered_map<std::string, int>().swap(slots_);
}

FunctionExecutor::~FunctionExecutor() = default;

int FunctionExecutor::slot(const std::string& name, bool define) {
  const auto it = slots_.find(name);
  if (it != slots_.end()) {
    // Sibling nested blocks (a while_loop's condition and body) may reuse names: scoped SSA.
    if (define && nesting_ > 0) return it->second;
    if (define) {
      fail(ErrorCode::kParse, "function '", function_.name, "': value '", name,
           "' is defined twice");
    }
    return it->second;
  }
  if (!define) {
    fail(ErrorCode::kParse, "function '", function_.name, "': value '", name,
         "' is used before it is defined");
  }
  const int index = static_cast<int>(slots_.size());
  slots_.emplace(name, index);
  constants_.emplace_back();
  return index;
}

RtValue FunctionExecutor::make_constant(const mil::Value& value, const std::string& where) {
  RtValue v;
  v.constant = true;
  v.set = true;
  v.literal = &value;
  if (value.kind == mil::Value::Kind::kBlob) {
    const format::BlobView view = asset_.weights->view(value);
    std::vector<int64_t> shape;
    for (const auto& d : *value.type.tensor.shape) shape.push_back(d.size);
    v.raw = RawConstant::from_blob(view, std::move(shape));
  } else if (value.kind == mil::Value::Kind::kTensor &&
             value.type.tensor.dtype != mil::DataType::kString) {
    try {
      v.raw = RawConstant::from_literal(value);
    } catch (const Error& e) {
      fail(ErrorCode::kParse, where, ": ", e.what());
    }
  } else {
    return v;  // strings, tuples, lists, dicts: literal only
  }
  if (tensor_dtype(v.raw->dtype())) v.tensor = v.raw->to_tensor();
  return v;
}

void FunctionExecutor::bind_constant_op(const mil::Operation& op) {
  const auto it = op.attributes.find("val");
  if (it == op.attributes.end()) {
    fail(ErrorCode::kParse, "const op '", op.name(), "' has no 'val' attribute");
  }
  if (op.outputs.size() != 1) {
    fail(ErrorCode::kParse, "const op '", op.name(), "' must have exactly one output");
  }
  const int s = slot(op.outputs[0].name, true);
  constants_[static_cast<size_t>(s)] = make_constant(it->second, "const op '" + op.name() + "'");
}

FunctionExecutor::CompiledBlock FunctionExecutor::compile_block(
    const mil::Block& block, const std::vector<mil::NamedType>& inputs) {
  CompiledBlock compiled;
  for (const auto& input : inputs) compiled.input_slots.push_back(slot(input.name, true));
  for (const auto& op : block.operations) {
    if (op.type == "const") {
      bind_constant_op(op);
      continue;
    }
    Step step;
    step.op = &op;
    step.def = registry_.find_def(op.type);
    step.kernel = step.def ? step.def->simple : nullptr;
    for (const auto& [param, arg] : op.inputs) {
      std::vector<int> bindings;
      for (const auto& b : arg.bindings) {
        if (b.value) {
          step.literals.push_back(make_constant(*b.value, op_label(op) + " input " + param));
          bindings.push_back(-static_cast<int>(step.literals.size()));
        } else {
          bindings.push_back(slot(b.name, false));
        }
        step.flat_slots.push_back(bindings.back());
      }
      step.input_slots.push_back(std::move(bindings));
    }
    for (const auto& [name, value] : op.attributes) {
      if (value.kind == mil::Value::Kind::kBlob) {
        step.attribute_constants.emplace(name,
                                         make_constant(value, op_label(op) + " attribute " + name));
      }
    }
    if (!op.blocks.empty()) has_nested_blocks_ = true;
    ++nesting_;
    for (const auto& nested : op.blocks)
      step.blocks.push_back(compile_block(nested, nested.inputs));
    --nesting_;
    for (const auto& out : op.outputs) step.output_slots.push_back(slot(out.name, true));
    compiled.steps.push_back(std::move(step));
  }
  for (const auto& name : block.outputs) compiled.output_slots.push_back(slot(name, false));
  return compiled;
}

void FunctionExecutor::fold_constants(CompiledBlock& block) {
  HeapAllocator heap;
  std::vector<RtValue>& env = constants_;
  std::vector<Step> remaining;
  for (auto& step : block.steps) {
    bool all_constant = step.blocks.empty() && !is_stateful(*step.op) && !is_random(*step.op);
    for (const auto& bindings : step.input_slots) {
      for (int s : bindings) {
        if (s >= 0 && !(constants_[static_cast<size_t>(s)].set &&
                        constants_[static_cast<size_t>(s)].constant)) {
          all_constant = false;
        }
      }
    }
    if (!all_constant) {
      remaining.push_back(std::move(step));
      continue;
    }
    std::vector<std::vector<const RtValue*>> inputs;
    for (const auto& bindings : step.input_slots) {
      std::vector<const RtValue*> values;
      for (int s : bindings) values.push_back(&step.input(env, s));
      inputs.push_back(std::move(values));
    }
    std::vector<RtValue> outputs(step.output_slots.size());
    OpContext ctx(*step.op, std::move(inputs), outputs, heap, *pool_);
    ctx.set_attribute_constants(&step.attribute_constants);
    step.kernel(ctx);
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].set) {
        fail(ErrorCode::kInternal, op_label(*step.op), ": kernel produced no output #", i);
      }
      outputs[i].constant = true;
      constants_[static_cast<size_t>(step.output_slots[i])] = std::move(outputs[i]);
    }
  }
  block.steps = std::move(remaining);
}

void FunctionExecutor::create_prepared_kernels(CompiledBlock& block) {
  static const RtValue kRuntimeValue;  // stands for bindings known only at run time
  HeapAllocator heap;
  for (Step& step : block.steps) {
    if (!step.def || !step.def->prepared || !step.blocks.empty()) continue;
    std::vector<std::vector<const RtValue*>> inputs;
    std::vector<int> first;
    std::vector<const RtValue*> flat;
    for (const auto& bindings : step.input_slots) {
      first.push_back(static_cast<int>(flat.size()));
      std::vector<const RtValue*> values;
      for (int s : bindings) {
        const RtValue* v = &step.input(constants_, s);
        if (!(v->set && v->constant)) v = &kRuntimeValue;
        values.push_back(v);
        flat.push_back(v->set ? v : nullptr);
      }
      inputs.push_back(std::move(values));
    }
    std::vector<RtValue> outputs(step.output_slots.size());
    OpContext params(*step.op, std::move(inputs), outputs, heap, *pool_);
    params.set_attribute_constants(&step.attribute_constants);
    const KernelInit init(params, std::move(first), std::move(flat));
    try {
      step.prepared = step.def->prepared(init);
    } catch (const Error& e) {
      fail(e.code(), op_label(*step.op), ": ", e.what());
    }
  }
}

namespace {
void mark_uses(const std::vector<int>& slots, size_t step_index, std::vector<long>& last_use) {
  for (int s : slots) {
    if (s >= 0) last_use[static_cast<size_t>(s)] = static_cast<long>(step_index);
  }
}
}  // namespace

void FunctionExecutor::plan_releases(CompiledBlock& block) {
  std::vector<long> last_use(slots_.size(), -1);
  // Uses inside nested blocks count as uses by the op that owns them.
  std::function<void(const CompiledBlock&, size_t)> mark_nested = [&](const CompiledBlock& b,
                                                                      size_t at) {
    for (const auto& step : b.steps) {
      for (const auto& bindings : step.input_slots) mark_uses(bindings, at, last_use);
      for (const auto& nested : step.blocks) mark_nested(nested, at);
    }
    mark_uses(b.output_slots, at, last_use);
  };
  for (size_t i = 0; i < block.steps.size(); ++i) {
    for (const auto& bindings : block.steps[i].input_slots) mark_uses(bindings, i, last_use);
    for (const auto& nested : block.steps[i].blocks) mark_nested(nested, i);
  }
  std::set<int> keep(block.output_slots.begin(), block.output_slots.end());
  for (int s : block.input_slots) keep.insert(s);
  last_use_ = last_use;
  // Kept values (function inputs and outputs) live to the end.
  for (int s : keep) last_use_[static_cast<size_t>(s)] = static_cast<long>(block.steps.size());
  for (size_t s = 0; s < last_use.size(); ++s) {
    if (last_use[s] < 0 || keep.count(static_cast<int>(s)) || constants_[s].constant) continue;
    block.steps[static_cast<size_t>(last_use[s])].release_after.push_back(static_cast<int>(s));
  }
  // Values produced but never used are released right after the op that made them.
  for (auto& step : block.steps) {
    for (int s : step.output_slots) {
      if (last_use[static_cast<size_t>(s)] < 0 && !keep.count(s)) step.release_after.push_back(s);
    }
  }
}

std::vector<std::string> FunctionExecutor::op_types() const {
  std::vector<std::string> types;
  for (const Step& step : main_->steps) types.push_back(step.op->type);
  return types;
}

int FunctionExecutor::prepared_op_count() const {
  int n = 0;
  for (const Step& step : main_->steps) n += step.prepared ? 1 : 0;
  return n;
}

// ---------------------------------------------------------------------------------------
// Dynamic execution

void FunctionExecutor::execute_step(Step& step, std::vector<RtValue>& env,
                                    RecyclingAllocator& allocator, Recording* recording,
                                    size_t step_index) {
  if (step.prepared && execute_prepared_dynamic(step, env, allocator, recording, step_index)) {
    return;
  }
  std::vector<std::vector<const RtValue*>> inputs;
  inputs.reserve(step.input_slots.size());
  size_t param = 0;
  for (const auto& bindings : step.input_slots) {
    std::vector<const RtValue*> values;
    for (int s : bindings) {
      const RtValue* v = &step.input(env, s);
      if (!v->set) {
        auto it = step.op->inputs.begin();
        std::advance(it, static_cast<long>(param));
        fail(ErrorCode::kInternal, op_label(*step.op), ": input '", it->first, "' has no value");
      }
      values.push_back(v);
    }
    inputs.push_back(std::move(values));
    ++param;
  }
  std::vector<RtValue> outputs(step.output_slots.size());
  OpContext::BlockRunner runner = [&](size_t index, const std::vector<RtValue>& block_inputs) {
    return execute_block(step.blocks.at(index), env, allocator, block_inputs, false, nullptr);
  };
  OpContext ctx(*step.op, std::move(inputs), outputs, allocator, *pool_, runner);
  ctx.set_hints(step.hints);
  ctx.set_attribute_constants(&step.attribute_constants);
  if (recording) allocator.start_log();
  step.kernel(ctx);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].set) {
      fail(ErrorCode::kInternal, op_label(*step.op), ": kernel produced no output #", i);
    }
    env[static_cast<size_t>(step.output_slots[i])] = std::move(outputs[i]);
  }
  if (!recording) return;
  // Which buffer each output lives in: one handed out for it, or an input's.
  const auto& log = allocator.stop_log();
  recording->scratch[step_index] = 0;
  for (size_t i = 0; i < step.output_slots.size(); ++i) {
    const int out_slot = step.output_slots[i];
    const RtValue& v = env[static_cast<size_t>(out_slot)];
    int buffer = -1;
    if (!v.compressed && v.tensor.storage()) {
      // Tensors on one buffer share its first byte (Storage objects may differ: from_blob).
      const std::byte* base = v.tensor.storage()->data();
      for (const auto& h : log) {
        if (h.output == i && h.base == base) {
          Recording::Buffer b;
          b.kind = Recording::Kind::kArena;
          b.index = static_cast<int>(step_index);
          b.bytes = h.bytes;
          b.base = base;
          buffer = recording->add_buffer(b);
        }
      }
      if (buffer < 0) {
        for (int s : step.flat_slots) {
          if (s < 0) continue;
          const int source = recording->values[static_cast<size_t>(s)].buffer;
          if (source >= 0 && recording->buffers[static_cast<size_t>(source)].base == base) {
            buffer = source;
            break;
          }
        }
      }
    }
    if (buffer < 0) {
      Recording::Buffer b;
      b.kind = Recording::Kind::kForeign;
      buffer = recording->add_buffer(b);
    }
    recording->note(out_slot, v.tensor, buffer);
  }
}

bool FunctionExecutor::execute_prepared_dynamic(Step& step, std::vector<RtValue>& env,
                                                RecyclingAllocator& allocator, Recording* recording,
                                                size_t step_index) {
  std::vector<const RtValue*> inputs;
  inputs.reserve(step.flat_slots.size());
  for (int s : step.flat_slots) {
    const RtValue* v = &step.input(env, s);
    if (!v->set) fail(ErrorCode::kInternal, op_label(*step.op), ": an input has no value");
    inputs.push_back(v);
  }
  bool same = step.shaped_for.size() == inputs.size() && !step.specs.empty();
  for (size_t b = 0; same && b < inputs.size(); ++b)
    same = step.shaped_for[b] == meta_of(*inputs[b]);
  if (!same) {
    step.specs.assign(step.output_slots.size(), {});
    step.scratch_bytes = 0;
    reshape_step(step, inputs);
    reshaped_for_ = nullptr;
  }
  if (step.declined) return false;
  const int in_place =
      recording ? recorded_in_place_input(step, inputs, *recording, step_index) : -1;
  if (recording) allocator.start_log();
  std::vector<Tensor*> outputs;
  for (size_t i = 0; i < step.specs.size(); ++i) {
    const auto& spec = step.specs[i];
    RtValue& out = env[static_cast<size_t>(step.output_slots[i])];
    if (spec.view) {
      const Tensor& source = inputs[static_cast<size_t>(spec.source)]->tensor;
      out = RtValue::of(
          source.as_strided(spec.shape, spec.strides, source.storage_offset() + spec.offset));
    } else if (i == 0 && in_place >= 0) {
      out = RtValue::of(inputs[static_cast<size_t>(in_place)]->tensor);
    } else {
      out = RtValue::of(allocator.allocate(i, spec.shape, spec.dtype));
    }
    outputs.push_back(&out.tensor);
  }
  std::shared_ptr<Storage> scratch;
  if (step.scratch_bytes) scratch = allocator.buffer(step.scratch_bytes);
  RunContext ctx(inputs.data(), outputs.data(), *pool_, scratch ? scratch->data() : nullptr);
  step.prepared->run(ctx);
  if (!recording) return true;
  const auto& log = allocator.stop_log();
  recording->scratch[step_index] = step.scratch_bytes;
  for (size_t i = 0; i < step.specs.size(); ++i) {
    const auto& spec = step.specs[i];
    const int out_slot = step.output_slots[i];
    int buffer = -1;
    if (i == 0 && in_place >= 0) {
      buffer =
          recording->values[static_cast<size_t>(step.flat_slots[static_cast<size_t>(in_place)])]
              .buffer;
    } else if (spec.view) {
      const int s = step.flat_slots[static_cast<size_t>(spec.source)];
      if (s >= 0) {
        buffer = recording->values[static_cast<size_t>(s)].buffer;
      } else {
        Recording::Buffer b;  // a view of a literal
        b.kind = Recording::Kind::kConstant;
        b.index = s;
        b.base = inputs[static_cast<size_t>(spec.source)]->tensor.storage()->data();
        buffer = recording->add_buffer(b);
      }
    } else {
      for (const auto& h : log) {
        if (h.output != i) continue;
        Recording::Buffer b;
        b.kind = Recording::Kind::kArena;
        b.index = static_cast<int>(step_index);
        b.bytes = h.bytes;
        b.base = h.base;
        buffer = recording->add_buffer(b);
      }
    }
    recording->note(out_slot, env[static_cast<size_t>(out_slot)].tensor, buffer);
  }
  return true;
}

// The input whose buffer output 0 of a recorded step takes over, as the plan will (build_plan,
// step 2), or -1: the kernel may overwrite it, it dies at this step, it is a dense buffer of the
// run's own of output 0's shape and dtype, and nothing else holds it (no other value, view or
// input of the step). Without this a recording held a new buffer for every such output while
// its input was still alive (a Whisper encoder: 19.8 MB of buffers for its 16.3 MB arena).
int FunctionExecutor::recorded_in_place_input(const Step& step,
                                              const std::vector<const RtValue*>& inputs,
                                              const Recording& recording, size_t step_index) const {
  if (step.specs.empty() || step.specs[0].view) return -1;
  const int b = step.prepared->in_place_input();
  if (b < 0 || static_cast<size_t>(b) >= step.flat_slots.size()) return -1;
  const int slot = step.flat_slots[static_cast<size_t>(b)];
  if (slot < 0 || last_use_[static_cast<size_t>(slot)] != static_cast<long>(step_index)) return -1;
  for (size_t j = 0; j < step.flat_slots.size(); ++j) {
    if (j != static_cast<size_t>(b) && step.flat_slots[j] == slot) return -1;  // read twice
  }
  const RtValue& in = *inputs[static_cast<size_t>(b)];
  const auto& spec = step.specs[0];
  const auto& value = recording.values[static_cast<size_t>(slot)];
  if (in.compressed || !in.tensor.storage() || in.tensor.storage().use_count() != 1 ||
      value.buffer < 0 ||
      recording.buffers[static_cast<size_t>(value.buffer)].kind != Recording::Kind::kArena ||
      in.tensor.storage_offset() != 0 || !in.tensor.is_contiguous() ||
      in.tensor.shape() != spec.shape || in.tensor.dtype() != spec.dtype) {
    return -1;
  }
  return b;
}

void FunctionExecutor::reshape_step(Step& step, const std::vector<const RtValue*>& inputs) {
  step.specs.assign(step.output_slots.size(), {});
  step.scratch_bytes = 0;
  ReshapeContext ctx(*step.op, inputs, step.specs, step.scratch_bytes, step.hints, pool_->size());
  step.prepared->reshape(ctx);
  step.declined = ctx.declined();
  for (size_t i = 0; !step.declined && i < step.specs.size(); ++i) {
    if (!step.specs[i].defined) {
      fail(ErrorCode::kInternal, op_label(*step.op), ": reshape left output #", i, " undefined");
    }
  }
  step.shaped_for.clear();
  for (const RtValue* v : inputs) step.shaped_for.push_back(meta_of(*v));
}

std::vector<RtValue> FunctionExecutor::execute_block(CompiledBlock& block,
                                                     std::vector<RtValue>& env,
                                                     RecyclingAllocator& allocator,
                                                     const std::vector<RtValue>& inputs,
                                                     bool top_level, Recording* recording) {
  if (inputs.size() != block.input_slots.size()) {
    fail(ErrorCode::kInvalidArgument, "a nested block takes ", block.input_slots.size(),
         " inputs, got ", inputs.size());
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    env[static_cast<size_t>(block.input_slots[i])] = inputs[i];
  for (size_t i = 0; i < block.steps.size(); ++i) {
    Step& step = block.steps[i];
    if (profiling_ && top_level) {
      const auto start = std::chrono::steady_clock::now();
      execute_step(step, env, allocator, recording, i);
      step.milliseconds +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      ++step.calls;
    } else {
      execute_step(step, env, allocator, top_level ? recording : nullptr, i);
    }
    if (top_level) {
      for (int s : step.release_after) env[static_cast<size_t>(s)] = RtValue{};
    }
  }
  std::vector<RtValue> outputs;
  for (int s : block.output_slots) outputs.push_back(env[static_cast<size_t>(s)]);
  return outputs;
}

void FunctionExecutor::run_dynamic(std::span<const Tensor* const> inputs,
                                   std::span<Tensor* const> states, std::vector<Tensor>& outputs,
                                   Recording* recording) {
  std::vector<RtValue> env = constants_;
  std::vector<RtValue> block_inputs;
  size_t next_input = 0, next_state = 0;
  if (recording) {
    recording->values.assign(constants_.size(), {});
    recording->scratch.assign(main_->steps.size(), 0);
    for (size_t s = 0; s < constants_.size(); ++s) {
      if (!constants_[s].set || constants_[s].compressed || !constants_[s].tensor.storage())
        continue;
      Recording::Buffer b;
      b.kind = Recording::Kind::kConstant;
      b.index = static_cast<int>(s);
      b.base = constants_[s].tensor.storage()->data();
      recording->note(static_cast<int>(s), constants_[s].tensor, recording->add_buffer(b));
    }
  }
  for (size_t i = 0; i < function_.inputs.size(); ++i) {
    const bool is_state = function_.inputs[i].type.kind == mil::Type::Kind::kState;
    const Tensor& t = is_state ? *states[next_state] : *inputs[next_input];
    block_inputs.push_back(RtValue::of(t));
    if (recording) {
      Recording::Buffer b;
      b.kind = is_state ? Recording::Kind::kState : Recording::Kind::kInput;
      b.index = static_cast<int>(is_state ? next_state : next_input);
      b.bytes = t.nbytes();
      b.base = t.storage() ? t.storage()->data() : nullptr;
      recording->note(main_->input_slots[i], t, recording->add_buffer(b));
    }
    (is_state ? next_state : next_input)++;
  }
  // Recording only for this run, also when an op throws (a planned run's fallback
  // allocations must not fit tightly and give buffers back).
  struct RecordingScope {
    RecyclingAllocator& allocator;
    RecordingScope(RecyclingAllocator& a, bool on) : allocator(a) { a.set_recording(on); }
    ~RecordingScope() { allocator.set_recording(false); }
  };
  std::vector<RtValue> outs;
  allocator_->start_peak();
  {
    const RecordingScope scope(*allocator_, recording != nullptr);
    outs = execute_block(*main_, env, *allocator_, block_inputs, true, recording);
  }
  outputs.resize(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) outputs[i] = outs[i].dense();
  peak_bytes_ = allocator_->peak_bytes();
}

// ---------------------------------------------------------------------------------------
// Memory plans

std::unique_ptr<FunctionExecutor::Plan> FunctionExecutor::build_plan(
    const Recording& rec, std::span<const Tensor* const> inputs, std::span<Tensor* const> states) {
  using Kind = Recording::Kind;
  const auto& steps = main_->steps;
  const int64_t n = static_cast<int64_t>(steps.size());
  auto plan = std::make_unique<Plan>();

  // 1. Buffers that go into the arena: every kArena buffer and every function input (copied
  //    in at the start of a replay), plus scratch. Lifetimes from the values living in them.
  std::vector<int> arena_index(rec.buffers.size(), -1);
  std::vector<BufferLifetime> lifetimes;
  for (size_t b = 0; b < rec.buffers.size(); ++b) {
    const auto& buffer = rec.buffers[b];
    if (buffer.kind == Kind::kArena) {
      arena_index[b] = static_cast<int>(lifetimes.size());
      lifetimes.push_back({buffer.bytes, buffer.index, buffer.index});
    } else if (buffer.kind == Kind::kInput) {
      arena_index[b] = static_cast<int>(lifetimes.size());
      const Tensor& t = *inputs[static_cast<size_t>(buffer.index)];
      lifetimes.push_back({t.nbytes(), -1, -1});
    }
  }
  for (size_t s = 0; s < rec.values.size(); ++s) {
    const auto& v = rec.values[s];
    if (!v.produced || v.buffer < 0) continue;
    const int a = arena_index[static_cast<size_t>(v.buffer)];
    if (a < 0) continue;
    // Values (views included) keep their buffer until their last use.
    int64_t last = last_use_[s];
    if (last < 0) last = rec.buffers[static_cast<size_t>(v.buffer)].index;
    lifetimes[static_cast<size_t>(a)].last = std::max(lifetimes[static_cast<size_t>(a)].last, last);
  }
  // 2. In place: a prepared op whose kernel can overwrite a dying input of its output's size.
  std::vector<int> merged_into(lifetimes.size(), -1);
  const auto root = [&](int a) {
    while (merged_into[static_cast<size_t>(a)] >= 0) a = merged_into[static_cast<size_t>(a)];
    return a;
  };
  for (int64_t i = 0; i < n; ++i) {
    const Step& step = steps[static_cast<size_t>(i)];
    if (!step.runs_prepared() || step.output_slots.empty()) continue;
    const int b = step.prepared->in_place_input();
    if (b < 0 || static_cast<size_t>(b) >= step.flat_slots.size()) continue;
    const int in_slot = step.flat_slots[static_cast<size_t>(b)];
    if (in_slot < 0) continue;
    const auto& in = rec.values[static_cast<size_t>(in_slot)];
    const auto& out = rec.values[static_cast<size_t>(step.output_slots[0])];
    if (!in.produced || !out.produced || in.buffer < 0 || out.buffer < 0) continue;
    const int ia = arena_index[static_cast<size_t>(in.buffer)];
    const int oa = arena_index[static_cast<size_t>(out.buffer)];
    if (ia < 0 || oa < 0 || ia == oa) continue;
    if (rec.buffers[static_cast<size_t>(out.buffer)].kind != Kind::kArena) continue;
    if (in.shape != out.shape || in.dtype != out.dtype || in.byte_offset != 0 ||
        in.strides != dense_strides(in.shape)) {
      continue;
    }
    const int r = root(ia);
    if (lifetimes[static_cast<size_t>(r)].last != i ||
        lifetimes[static_cast<size_t>(r)].bytes < lifetimes[static_cast<size_t>(oa)].bytes) {
      continue;
    }
    // Another input of the op in the same buffer (a conv of x whose residual is x, an add of a
    // value and a view of it): the kernel may read it after the output overwrote it.
    bool shared = false;
    for (size_t j = 0; j < step.flat_slots.size() && !shared; ++j) {
      const int other = step.flat_slots[j];
      if (j == static_cast<size_t>(b) || other < 0) continue;
      const auto& v = rec.values[static_cast<size_t>(other)];
      if (!v.produced || v.buffer < 0) continue;
      const int a = arena_index[static_cast<size_t>(v.buffer)];
      shared = a >= 0 && root(a) == r;
    }
    if (shared) continue;
    merged_into[static_cast<size_t>(oa)] = r;
    lifetimes[static_cast<size_t>(r)].last =
        std::max(lifetimes[static_cast<size_t>(r)].last, lifetimes[static_cast<size_t>(oa)].last);
  }
  std::vector<BufferLifetime> placed;
  std::vector<int> placed_index(lifetimes.size(), -1);
  for (size_t a = 0; a < lifetimes.size(); ++a) {
    if (merged_into[a] >= 0) continue;
    placed_index[a] = static_cast<int>(placed.size());
    placed.push_back(lifetimes[a]);
  }
  std::vector<int> scratch_index(steps.size(), -1);
  for (size_t i = 0; i < steps.size(); ++i) {
    if (rec.scratch[i] == 0) continue;
    scratch_index[i] = static_cast<int>(placed.size());
    placed.push_back({rec.scratch[i], static_cast<int64_t>(i), static_cast<int64_t>(i)});
  }
  const ArenaLayout layout = place_buffers(placed);
  check_activation_allocation({static_cast<int64_t>(layout.total_bytes)}, DType::kUInt8, 0);
  plan->arena = Storage::allocate(std::max<size_t>(layout.total_bytes, 64));
  plan->arena_bytes = layout.total_bytes;
  std::byte* const arena = plan->arena->data();
  const auto buffer_base = [&](int buffer) -> std::byte* {
    const int a = arena_index[static_cast<size_t>(buffer)];
    return arena + layout.offsets[static_cast<size_t>(placed_index[static_cast<size_t>(root(a))])];
  };

  // 3. Prebuilt values.
  plan->env = constants_;
  const auto keep = std::static_pointer_cast<void>(plan->arena);
  for (size_t s = 0; s < rec.values.size(); ++s) {
    const auto& v = rec.values[s];
    if (!v.produced || v.buffer < 0) continue;
    const auto& buffer = rec.buffers[static_cast<size_t>(v.buffer)];
    if (arena_index[static_cast<size_t>(v.buffer)] >= 0) {
      plan->env[s] = RtValue::of(Tensor::from_blob(buffer_base(v.buffer) + v.byte_offset, v.shape,
                                                   v.dtype, keep, v.strides));
    } else if (buffer.kind == Kind::kState) {
      plan->state_views.push_back(
          {static_cast<int>(s), buffer.index, v.byte_offset, v.shape, v.strides, v.dtype});
    } else if (buffer.kind == Kind::kConstant && !constants_[s].set) {
      // An op's view of a constant: constants live as long as the executor.
      plan->env[s] = RtValue::of(Tensor::from_blob(
          const_cast<std::byte*>(buffer.base) + v.byte_offset, v.shape, v.dtype, {}, v.strides));
    } else if (buffer.kind == Kind::kForeign) {
      // Made by a simple kernel on memory of its own, anew each run. Until the first replay
      // sets it, a stand-in with the recorded layout lets prepared kernels reshape.
      plan->env[s] = RtValue::of(placeholder(v.shape, v.strides, v.dtype));
    }
  }
  for (size_t i = 0; i < function_.inputs.size(); ++i) {
    if (function_.inputs[i].type.kind != mil::Type::Kind::kState)
      plan->input_slots.push_back(main_->input_slots[i]);
  }
  plan->bound_states.assign(states.size(), nullptr);

  // 4. Per-step bindings.
  plan->steps.resize(steps.size());
  plan->specs.resize(steps.size());
  plan->declined.resize(steps.size());
  plan->scratch = rec.scratch;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    Plan::StepBinding& bind = plan->steps[i];
    for (int s : step.flat_slots) {
      bind.inputs.push_back(s < 0 ? &step.literals[static_cast<size_t>(-s - 1)]
                                  : &plan->env[static_cast<size_t>(s)]);
    }
    for (int s : step.output_slots)
      bind.outputs.push_back(&plan->env[static_cast<size_t>(s)].tensor);
    if (scratch_index[i] >= 0) {
      bind.scratch = arena + layout.offsets[static_cast<size_t>(scratch_index[i])];
    }
    plan->declined[i] = step.declined;
    if (step.runs_prepared()) {
      plan->specs[i] = step.specs;
      for (size_t o = 0; o < step.specs.size(); ++o) {
        if (!step.specs[o].view) continue;
        const int source = step.flat_slots[static_cast<size_t>(step.specs[o].source)];
        if (source < 0) continue;
        const auto& src = rec.values[static_cast<size_t>(source)];
        if (src.buffer >= 0 && rec.buffers[static_cast<size_t>(src.buffer)].kind == Kind::kForeign)
          bind.dynamic_views.push_back(o);
      }
    } else {
      for (int s : step.output_slots) {
        Plan::Expected e;
        const auto& v = rec.values[static_cast<size_t>(s)];
        if (v.produced && v.buffer >= 0 &&
            rec.buffers[static_cast<size_t>(v.buffer)].kind != Kind::kForeign &&
            rec.buffers[static_cast<size_t>(v.buffer)].kind != Kind::kState) {
          const Tensor& t = plan->env[static_cast<size_t>(s)].tensor;
          e.check = true;
          e.data = static_cast<const std::byte*>(t.data());
          e.shape = v.shape;
          e.strides = v.strides;
          e.dtype = v.dtype;
        }
        bind.expected.push_back(std::move(e));
      }
    }
  }
  plan->signature.clear();
  return plan;
}

void FunctionExecutor::bind_plan_states(Plan& plan, std::span<Tensor* const> states) {
  bool moved = false;
  for (size_t k = 0; k < states.size(); ++k) {
    const auto* data = static_cast<const std::byte*>(states[k]->data());
    if (plan.bound_states[k] != data) moved = true;
  }
  if (!moved) return;
  size_t next_state = 0;
  for (size_t i = 0; i < function_.inputs.size(); ++i) {
    if (function_.inputs[i].type.kind != mil::Type::Kind::kState) continue;
    plan.env[static_cast<size_t>(main_->input_slots[i])] = RtValue::of(*states[next_state++]);
  }
  for (const auto& view : plan.state_views) {
    const Tensor& state = *states[static_cast<size_t>(view.state)];
    const int64_t offset = view.byte_offset / static_cast<int64_t>(dtype_size(view.dtype));
    plan.env[static_cast<size_t>(view.slot)] = RtValue::of(
        view.dtype == state.dtype()
            ? state.as_strided(view.shape, view.strides, state.storage_offset() + offset)
            : Tensor::from_blob(static_cast<std::byte*>(state.data()) + view.byte_offset,
                                view.shape, view.dtype, state.storage(), view.strides));
  }
  for (size_t k = 0; k < states.size(); ++k)
    plan.bound_states[k] = static_cast<const std::byte*>(states[k]->data());
}

void FunctionExecutor::reshape_for_plan(Plan& plan) {
  if (reshaped_for_ == &plan) return;
  for (size_t i = 0; i < main_->steps.size(); ++i) {
    Step& step = main_->steps[i];
    if (!step.prepared) continue;
    const auto& inputs = plan.steps[i].inputs;
    bool same = step.shaped_for.size() == inputs.size();
    for (size_t b = 0; same && b < inputs.size(); ++b)
      same = step.shaped_for[b] == meta_of(*inputs[b]);
    if (same) continue;
    reshape_step(step, inputs);
    if (step.declined != plan.declined[i] ||
        (!step.declined &&
         (step.specs.size() != plan.specs[i].size() || step.scratch_bytes != plan.scratch[i]))) {
      fail(ErrorCode::kInternal, op_label(*step.op), ": reshape disagrees with its memory plan");
    }
  }
  reshaped_for_ = &plan;
}

bool FunctionExecutor::run_planned(Plan& plan, std::span<const Tensor* const> inputs,
                                   std::span<Tensor* const> states, std::vector<Tensor>& outputs) {
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& dst = plan.env[static_cast<size_t>(plan.input_slots[k])].tensor;
    const Tensor& src = *inputs[k];
    if (src.nbytes() > 0) std::memcpy(dst.data(), src.data(), src.nbytes());
  }
  bind_plan_states(plan, states);
  reshape_for_plan(plan);
  PlannedAllocator planned(*allocator_);
  std::vector<RtValue>& env = plan.env;
  const size_t n = main_->steps.size();
  size_t i = 0;
  bool ok = true;
  for (; i < n && ok; ++i) {
    Step& step = main_->steps[i];
    Plan::StepBinding& bind = plan.steps[i];
    const auto start =
        profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (step.runs_prepared()) {
      for (size_t o : bind.dynamic_views) {
        const auto& spec = step.specs[o];
        const Tensor& source = bind.inputs[static_cast<size_t>(spec.source)]->tensor;
        *bind.outputs[o] =
            source.as_strided(spec.shape, spec.strides, source.storage_offset() + spec.offset);
      }
      RunContext ctx(bind.inputs.data(), bind.outputs.data(), *pool_, bind.scratch);
      step.prepared->run(ctx);
    } else {
      std::vector<Tensor> expected_tensors;
      for (size_t o = 0; o < bind.outputs.size(); ++o) {
        expected_tensors.push_back(bind.expected[o].check ? *bind.outputs[o] : Tensor());
      }
      planned.start(&expected_tensors);
      std::vector<std::vector<const RtValue*>> params;
      size_t flat = 0;
      for (const auto& bindings : step.input_slots) {
        std::vector<const RtValue*> values;
        for (size_t k = 0; k < bindings.size(); ++k) values.push_back(bind.inputs[flat++]);
        params.push_back(std::move(values));
      }
      std::vector<RtValue> outs(step.output_slots.size());
      OpContext ctx(*step.op, std::move(params), outs, planned, *pool_);
      ctx.set_hints(step.hints);
      ctx.set_attribute_constants(&step.attribute_constants);
      step.kernel(ctx);
      for (size_t o = 0; o < outs.size(); ++o) {
        if (!outs[o].set) {
          fail(ErrorCode::kInternal, op_label(*step.op), ": kernel produced no output #", o);
        }
        const Plan::Expected& e = bind.expected[o];
        if (e.check) {
          const Tensor& t = outs[o].tensor;
          if (outs[o].compressed || t.data() != e.data || t.dtype() != e.dtype ||
              t.shape() != e.shape || t.strides() != e.strides) {
            ok = false;  // this op's result moved: finish this run dynamically
          }
        }
        env[static_cast<size_t>(step.output_slots[o])] = std::move(outs[o]);
      }
      if (planned.mismatch()) ok = false;
    }
    if (profiling_) {
      step.milliseconds +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      ++step.calls;
    }
  }
  // After a mismatch: the remaining steps run dynamically on the same values.
  for (; i < n; ++i) execute_step(main_->steps[i], env, *allocator_, nullptr, i);
  outputs.resize(main_->output_slots.size());
  for (size_t o = 0; o < outputs.size(); ++o) {
    outputs[o] = env[static_cast<size_t>(main_->output_slots[o])].dense();
  }
  peak_bytes_ = static_cast<int64_t>(plan.arena_bytes);
  return ok;
}

void FunctionExecutor::run(std::span<const Tensor* const> inputs, std::span<Tensor* const> states,
                           std::vector<Tensor>& outputs) {
  if (inputs.size() != input_order_.size() || states.size() != state_order_.size()) {
    fail(ErrorCode::kInvalidArgument, "function '", function_.name, "' takes ", input_order_.size(),
         " inputs and ", state_order_.size(), " states, got ", inputs.size(), " and ",
         states.size());
  }
  last_run_planned_ = false;
  if (!options_.memory_plan || has_nested_blocks_) {
    run_dynamic(inputs, states, outputs, nullptr);
    return;
  }
  // The signature: dtype and shape of every input.
  thread_local std::vector<int64_t> signature;
  signature.clear();
  for (const Tensor* t : inputs) {
    signature.push_back(static_cast<int64_t>(t->dtype()));
    signature.push_back(t->rank());
    signature.insert(signature.end(), t->shape().begin(), t->shape().end());
  }
  for (size_t p = 0; p < plans_.size(); ++p) {
    if (plans_[p]->signature != signature) continue;
    if (p != 0)
      std::rotate(plans_.begin(), plans_.begin() + static_cast<long>(p),
                  plans_.begin() + static_cast<long>(p) + 1);
    Plan& plan = *plans_.front();
    if (run_planned(plan, inputs, states, outputs)) {
      last_run_planned_ = true;
      return;
    }
    // Shapes changed from run to run: forget this plan, and after twice stop planning.
    if (reshaped_for_ == &plan) reshaped_for_ = nullptr;
    plans_.erase(plans_.begin());
    ++unplannable_[signature];
    return;
  }
  const auto bad = unplannable_.find(signature);
  if (bad != unplannable_.end() && bad->second >= 2) {
    run_dynamic(inputs, states, outputs, nullptr);
    return;
  }
  Recording recording;
  run_dynamic(inputs, states, outputs, &recording);
  // Outputs of a recorded run are heap values; keep them, they are the caller's now. The
  // recording's other buffers go before the arena is made (the recording keeps only their
  // addresses, to tell them apart).
  allocator_->release_free();
  auto plan = build_plan(recording, inputs, states);
  if (!plan) return;
  plan->signature = signature;
  plans_.insert(plans_.begin(), std::move(plan));
  constexpr size_t kMaxPlans = 4;
  if (plans_.size() > kMaxPlans) {
    if (reshaped_for_ == plans_.back().get()) reshaped_for_ = nullptr;
    plans_.pop_back();
  }
}

int64_t FunctionExecutor::peak_activation_bytes() const { return peak_bytes_; }

int64_t FunctionExecutor::dynamic_buffer_bytes() const { return allocator_->total_bytes(); }

void FunctionExecutor::set_profiling(bool on) {
  profiling_ = on;
  for (Step& step : main_->steps) {
    step.milliseconds = 0;
    step.calls = 0;
  }
}

std::vector<OpProfile> FunctionExecutor::profile_ops() const {
  std::vector<OpProfile> out;
  for (const Step& step : main_->steps) {
    if (step.calls == 0) continue;
    out.push_back({step.op->type, step.calls, step.milliseconds,
                   step.op->outputs.empty() ? std::string() : step.op->outputs[0].name});
  }
  return out;
}

std::vector<OpProfile> FunctionExecutor::profile() const {
  std::map<std::string, OpProfile> by_type;
  for (const Step& step : main_->steps) {
    if (step.calls == 0) continue;
    OpProfile& p = by_type[step.op->type];
    p.op_type = step.op->type;
    p.calls += step.calls;
    p.milliseconds += step.milliseconds;
  }
  std::vector<OpProfile> out;
  for (auto& [type, p] : by_type) out.push_back(p);
  return out;
}

}  // namespace coreml::runtime
