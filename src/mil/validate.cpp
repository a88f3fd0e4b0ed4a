#include "mil/validate.h"

#include <map>
#include <set>

#include "coreml/error.h"

namespace coreml::mil {
namespace {

constexpr size_t kMaxReported = 20;

bool known_opset(const std::string& opset) {
  for (const char* known : {"CoreML5", "CoreML6", "CoreML7", "CoreML8", "CoreML9"}) {
    if (opset == known) return true;
  }
  return false;
}

// Nested scopes of value names, each with its kind (for the state checks).
class Scopes {
 public:
  void push() { scopes_.emplace_back(); }
  void pop() { scopes_.pop_back(); }
  // False when `name` is already defined in the innermost scope.
  bool define(const std::string& name, const Type* type) {
    return scopes_.back().emplace(name, type).second;
  }
  // The type of `name` if visible (nullptr type for values of unknown type), else nullopt.
  std::optional<const Type*> find(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      const auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return std::nullopt;
  }

 private:
  std::vector<std::map<std::string, const Type*>> scopes_;
};

class Validator {
 public:
  explicit Validator(std::vector<std::string>& problems) : problems_(problems) {}

  void function(const Function& f) {
    where_function_ = "function '" + f.name + "'";
    if (!known_opset(f.opset)) {
      report(where_function_, ": unknown opset '", f.opset, "' (expected CoreML5 .. CoreML9)");
    }
    if (f.block.outputs.empty()) report(where_function_, ": the function has no outputs");
    scopes_.push();
    for (const auto& input : f.inputs) {
      if (!scopes_.define(input.name, &input.type)) {
        report(where_function_, ": input '", input.name, "' is declared twice");
      }
    }
    block(f.block, /*with_inputs=*/false);
    scopes_.pop();
  }

 private:
  template <typename... Args>
  void report(Args&&... args) {
    problems_.push_back(detail::cat(std::forward<Args>(args)...));
  }

  std::string op_where(const Operation& op) const {
    std::string s = where_function_ + ": op '" + op.name() + "' (" + op.type + ")";
    if (op.location.line) s += " at line " + std::to_string(op.location.line);
    return s;
  }

  // Names defined anywhere later in `b` (to tell a cycle from an undefined name).
  static std::set<std::string> defined_in(const Block& b) {
    std::set<std::string> names;
    for (const auto& op : b.operations) {
      for (const auto& out : op.outputs) names.insert(out.name);
    }
    return names;
  }

  void reference(const std::string& who, const std::string& name,
                 const std::set<std::string>& later) {
    if (scopes_.find(name)) return;
    if (later.count(name)) {
      report(who, ": uses '", name, "' before it is defined (a cycle or out-of-order program)");
    } else {
      report(who, ": uses '", name, "', which is not defined");
    }
  }

  void block(const Block& b, bool with_inputs) {
    if (with_inputs) {
      for (const auto& input : b.inputs) {
        if (!scopes_.define(input.name, &input.type)) {
          report(where_function_, ": block input '", input.name, "' is declared twice");
        }
      }
    }
    const std::set<std::string> in_block = defined_in(b);
    for (const auto& op : b.operations) {
      const std::string who = op_where(op);
      for (const auto& [param, arg] : op.inputs) {
        for (const auto& binding : arg.bindings) {
          if (!binding.value) reference(who, binding.name, in_block);
        }
      }
      check_op(op, who);
      for (const auto& nested : op.blocks) {
        scopes_.push();
        block(nested, /*with_inputs=*/true);
        scopes_.pop();
      }
      for (const auto& out : op.outputs) {
        if (!scopes_.define(out.name, &out.type)) {
          report(who, ": defines '", out.name, "', which is already defined");
        }
      }
    }
    for (const auto& name : b.outputs) {
      if (!scopes_.find(name)) {
        report(where_function_, ": output '", name, "' is not a value of its block");
      }
    }
  }

  // A constant string parameter: a literal input binding, or an attribute.
  static const Value* string_param(const Operation& op, const std::string& param) {
    const auto in = op.inputs.find(param);
    if (in != op.inputs.end() && in->second.bindings.size() == 1 && in->second.bindings[0].value) {
      return &*in->second.bindings[0].value;
    }
    const auto attr = op.attributes.find(param);
    return attr == op.attributes.end() ? nullptr : &attr->second;
  }

  void check_op(const Operation& op, const std::string& who) {
    if (op.type == "cast") {
      const Value* dtype = string_param(op, "dtype");
      if (dtype && dtype->kind == Value::Kind::kTensor &&
          dtype->type.tensor.dtype == DataType::kString && !dtype->strings.empty()) {
        const std::string& name = dtype->strings.front();
        // "int64" / "fp64" are accepted by coremltools and mean int32 / fp32 on Core ML.
        const auto known = data_type_from_name(name);
        if (!known && name != "int64" && name != "fp64") {
          report(who, ": unknown dtype '", name, "'");
        }
      }
    }
    if (op.type == "read_state" || op.type == "write_state") {
      const auto in = op.inputs.find("input");
      if (in == op.inputs.end() || in->second.bindings.size() != 1 ||
          in->second.bindings[0].value) {
        report(who, ": 'input' must name a state");
        return;
      }
      const auto type = scopes_.find(in->second.bindings[0].name);
      if (type && (!*type || (*type)->kind != Type::Kind::kState)) {
        report(who, ": '", in->second.bindings[0].name, "' is not a state");
      }
    }
  }

  std::vector<std::string>& problems_;
  std::string where_function_;
  Scopes scopes_;
};

}  // namespace

std::vector<std::string> validate(const Program& program) {
  std::vector<std::string> problems;
  std::set<std::string> names;
  for (const auto& f : program.functions) {
    if (!names.insert(f.name).second)
      problems.push_back("function '" + f.name + "' is defined twice");
    Validator(problems).function(f);
  }
  return problems;
}

void check_valid(const Program& program, const std::string& source) {
  const auto problems = validate(program);
  if (problems.empty()) return;
  std::string list;
  for (size_t i = 0; i < problems.size() && i < kMaxReported; ++i) {
    list += (i ? "; " : "") + problems[i];
  }
  if (problems.size() > kMaxReported) {
    list += "; and " + std::to_string(problems.size() - kMaxReported) + " more";
  }
  fail(ErrorCode::kParse, source, ": invalid program: ", list);
}

}  // namespace coreml::mil
