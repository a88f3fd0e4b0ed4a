#include "runtime/executor.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "coreml/error.h"
#include "runtime/limits.h"

namespace coreml::runtime {

// Hands out activation buffers, reusing any buffer nobody references any more. A buffer is
// free again as soon as the executor drops the last value living in it (after that value's
// last use) and no output or view returned to the caller still holds it.
class RecyclingAllocator : public BufferAllocator {
 public:
  Tensor allocate(const std::vector<int64_t>& shape, DType dtype) override {
    int64_t count = 1;
    for (int64_t d : shape) {
      if (d < 0) fail(ErrorCode::kInvalidArgument, "negative dimension in an output shape");
      if (d != 0 && count > (int64_t{1} << 40) / d) {
        fail(ErrorCode::kInvalidArgument, "output shape too large");
      }
      count *= d;
    }
    const size_t bytes = std::max<size_t>(64, static_cast<size_t>(count) * dtype_size(dtype));
    std::shared_ptr<Storage>* best = nullptr;
    for (auto& buffer : buffers_) {
      if (buffer.use_count() == 1 && buffer->nbytes() >= bytes && buffer->nbytes() <= bytes * 4 &&
          (!best || buffer->nbytes() < (*best)->nbytes())) {
        best = &buffer;
      }
    }
    if (!best) {
      check_activation_allocation(shape, dtype, total_bytes_);  // budget: coreml/limits.h
      buffers_.push_back(Storage::allocate(bytes));
      best = &buffers_.back();
      total_bytes_ += static_cast<int64_t>(bytes);
    }
    std::shared_ptr<Storage> keep = *best;
    return Tensor::from_blob(keep->data(), shape, dtype, std::static_pointer_cast<void>(keep));
  }
  int64_t total_bytes() const { return total_bytes_; }

 private:
  std::vector<std::shared_ptr<Storage>> buffers_;
  int64_t total_bytes_ = 0;
};

namespace {

// Heap allocation for values computed once at load time.
class HeapAllocator : public BufferAllocator {
 public:
  Tensor allocate(const std::vector<int64_t>& shape, DType dtype) override {
    return Tensor::empty(shape, dtype);
  }
};

std::string op_label(const mil::Operation& op) {
  std::string label = op.type + " (op '" + op.name() + "'";
  if (op.location.line) label += " at line " + std::to_string(op.location.line);
  return label + ")";
}

void collect_unsupported(const mil::Block& block, const KernelRegistry& registry,
                         std::vector<std::string>& out) {
  for (const auto& op : block.operations) {
    if (op.type != "const" && !registry.find(op.type)) out.push_back(op_label(op));
    for (const auto& nested : op.blocks) collect_unsupported(nested, registry, out);
  }
}

bool is_stateful(const mil::Operation& op) {
  return op.type == "read_state" || op.type == "write_state";
}

}  // namespace

std::vector<std::string> unsupported_ops(const mil::Function& function,
                                         const KernelRegistry& registry) {
  std::vector<std::string> out;
  collect_unsupported(function.block, registry, out);
  return out;
}

FunctionExecutor::FunctionExecutor(const format::ModelAsset& asset, const mil::Function& function,
                                   const KernelRegistry& registry, ThreadPool& pool)
    : asset_(asset),
      function_(function),
      registry_(registry),
      pool_(pool),
      allocator_(std::make_unique<RecyclingAllocator>()) {
  const auto missing = unsupported_ops(function, registry);
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 20) list += ", and " + std::to_string(missing.size() - 20) + " more";
    std::set<std::string> types;
    for (const auto& m : missing) types.insert(m.substr(0, m.find(' ')));
    std::string type_list;
    for (const auto& t : types) type_list += (type_list.empty() ? "" : ", ") + t;
    fail(ErrorCode::kUnsupported, "function '", function.name,
         "' uses ops the native runtime does not support: ", type_list, " — ", list);
  }
  main_ = compile_block(function.block, function.inputs);
  fold_constants(main_);
  plan_releases(main_);
  plan_state_aliasing(main_);
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
    step.kernel = registry_.find(op.type);
    for (const auto& [param, arg] : op.inputs) {
      std::vector<int> bindings;
      for (const auto& b : arg.bindings) {
        if (b.value) {
          step.literals.push_back(make_constant(*b.value, op_label(op) + " input " + param));
          bindings.push_back(-static_cast<int>(step.literals.size()));
        } else {
          bindings.push_back(slot(b.name, false));
        }
      }
      step.input_slots.push_back(std::move(bindings));
    }
    for (const auto& [name, value] : op.attributes) {
      if (value.kind == mil::Value::Kind::kBlob) {
        step.attribute_constants.emplace(name,
                                         make_constant(value, op_label(op) + " attribute " + name));
      }
    }
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

void FunctionExecutor::execute_step(Step& step, std::vector<RtValue>& env,
                                    BufferAllocator& allocator) {
  std::vector<std::vector<const RtValue*>> inputs;
  inputs.reserve(step.input_slots.size());
  size_t param = 0;
  for (const auto& bindings : step.input_slots) {
    std::vector<const RtValue*> values;
    for (int s : bindings) {
      const RtValue* v =
          s < 0 ? &step.literals[static_cast<size_t>(-s - 1)] : &env[static_cast<size_t>(s)];
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
    return execute_block(step.blocks.at(index), env, allocator, block_inputs, false);
  };
  OpContext ctx(*step.op, std::move(inputs), outputs, allocator, pool_, runner);
  ctx.set_hints(step.hints);
  ctx.set_attribute_constants(&step.attribute_constants);
  step.kernel(ctx);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].set) {
      fail(ErrorCode::kInternal, op_label(*step.op), ": kernel produced no output #", i);
    }
    env[static_cast<size_t>(step.output_slots[i])] = std::move(outputs[i]);
  }
}

std::vector<RtValue> FunctionExecutor::execute_block(CompiledBlock& block,
                                                     std::vector<RtValue>& env,
                                                     BufferAllocator& allocator,
                                                     const std::vector<RtValue>& inputs,
                                                     bool release) {
  if (inputs.size() != block.input_slots.size()) {
    fail(ErrorCode::kInvalidArgument, "a nested block takes ", block.input_slots.size(),
         " inputs, got ", inputs.size());
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    env[static_cast<size_t>(block.input_slots[i])] = inputs[i];
  for (auto& step : block.steps) {
    execute_step(step, env, allocator);
    if (release) {
      for (int s : step.release_after) env[static_cast<size_t>(s)] = RtValue{};
    }
  }
  std::vector<RtValue> outputs;
  for (int s : block.output_slots) outputs.push_back(env[static_cast<size_t>(s)]);
  return outputs;
}

void FunctionExecutor::fold_constants(CompiledBlock& block) {
  HeapAllocator heap;
  std::vector<RtValue>& env = constants_;
  std::vector<Step> remaining;
  for (auto& step : block.steps) {
    bool all_constant = step.blocks.empty() && !is_stateful(*step.op);
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
    execute_step(step, env, heap);
    for (int s : step.output_slots) constants_[static_cast<size_t>(s)].constant = true;
  }
  block.steps = std::move(remaining);
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

// ANEMLL-style KV updates (read_state -> slice_update -> write_state) would otherwise copy the
// whole cache three times per layer. Proves, at load, when the read can alias the state and the
// update can be done in place; only top-level ops are considered.
void FunctionExecutor::plan_state_aliasing(CompiledBlock& block) {
  std::set<int> state_slots;
  for (size_t i = 0; i < function_.inputs.size(); ++i) {
    if (function_.inputs[i].type.kind == mil::Type::Kind::kState)
      state_slots.insert(block.input_slots[i]);
  }
  if (state_slots.empty()) return;
  const auto param_slot = [](const Step& step, const char* param) -> int {
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
  // How many bindings (anywhere, nested blocks included) read each slot.
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
  count(block);
  const size_t n = block.steps.size();
  const auto is = [&](size_t i, const char* type) { return block.steps[i].op->type == type; };
  // A write to `state` (or a read of it, when `reads`) at a step in (from, to).
  const auto touched = [&](int state, size_t from, size_t to, bool reads) {
    for (size_t j = from + 1; j < std::min(to, n); ++j) {
      if ((is(j, "write_state") || (reads && is(j, "read_state"))) &&
          param_slot(block.steps[j], "input") == state) {
        return true;
      }
      if (!block.steps[j].blocks.empty()) return true;  // nested code: be conservative
    }
    return false;
  };
  std::map<int, int> alias_of;  // read_state output slot -> state slot
  for (size_t i = 0; i < n; ++i) {
    Step& step = block.steps[i];
    if (step.op->type == "read_state") {
      const int state = param_slot(step, "input");
      const int out = step.output_slots.empty() ? -1 : step.output_slots[0];
      if (!state_slots.count(state) || out < 0) continue;
      const long last = last_use_[static_cast<size_t>(out)];
      if (last < 0 || !touched(state, i, static_cast<size_t>(last) + 1, false)) {
        step.hints |= OpContext::kAliasStateRead;
        alias_of[out] = state;
      }
    } else if (step.op->type == "slice_update") {
      const int x = param_slot(step, "x");
      const auto alias = alias_of.find(x);
      if (alias == alias_of.end() || last_use_[static_cast<size_t>(x)] != static_cast<long>(i))
        continue;
      const int state = alias->second;
      // The result must flow, through single-use slice_updates, into a write_state of the same
      // state, with no read of that state on the way.
      bool flows_to_write = false;
      int value = step.output_slots[0];
      size_t at = i;
      for (int hops = 0; hops < 64; ++hops) {
        const long w = last_use_[static_cast<size_t>(value)];
        if (uses[static_cast<size_t>(value)] != 1 || w <= static_cast<long>(at) ||
            w >= static_cast<long>(n) || touched(state, at, static_cast<size_t>(w), true)) {
          break;
        }
        const Step& next = block.steps[static_cast<size_t>(w)];
        if (next.op->type == "write_state" && param_slot(next, "input") == state &&
            param_slot(next, "data") == value) {
          flows_to_write = true;
          break;
        }
        if (next.op->type != "slice_update" || param_slot(next, "x") != value) break;
        value = next.output_slots[0];
        at = static_cast<size_t>(w);
      }
      if (!flows_to_write) continue;
      // No other alias of this state may still be alive: it would see the early write.
      bool other_alive = false;
      for (const auto& [slot, s] : alias_of) {
        if (slot != x && s == state &&
            last_use_[static_cast<size_t>(slot)] >= static_cast<long>(i)) {
          other_alive = true;
        }
      }
      if (other_alive) continue;
      alias_of[step.output_slots[0]] = state;  // the in-place result is the state's memory
      step.hints |= OpContext::kUpdateInPlace;
    }
  }
}

std::vector<Tensor> FunctionExecutor::run(const std::map<std::string, Tensor>& inputs,
                                          const std::map<std::string, Tensor>& states) {
  std::vector<RtValue> env = constants_;
  std::vector<RtValue> block_inputs;
  for (const auto& input : function_.inputs) {
    const bool is_state = input.type.kind == mil::Type::Kind::kState;
    const auto& source = is_state ? states : inputs;
    const auto it = source.find(input.name);
    if (it == source.end()) {
      fail(ErrorCode::kInvalidArgument, "function '", function_.name, "': no value for ",
           is_state ? "state '" : "input '", input.name, "'");
    }
    block_inputs.push_back(RtValue::of(it->second));
  }
  std::vector<RtValue> outs = execute_block(main_, env, *allocator_, block_inputs, true);
  std::vector<Tensor> result;
  for (size_t i = 0; i < outs.size(); ++i) {
    const RtValue& v = outs[i];
    // Constants and state memory must not escape as writable outputs: copy them.
    const bool aliases = v.constant || v.compressed;
    Tensor t = aliases ? v.dense().clone() : v.tensor;
    for (const auto& [name, state] : states) {
      if (t.shares_storage_with(state)) t = t.clone();
    }
    result.push_back(std::move(t));
  }
  return result;
}

int64_t FunctionExecutor::peak_activation_bytes() const { return allocator_->total_bytes(); }

}  // namespace coreml::runtime
