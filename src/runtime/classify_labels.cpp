#include "runtime/classify_labels.h"

#include "coreml/error.h"

namespace coreml::runtime {
namespace {

void add_labels(const mil::Value& v, std::vector<std::string>& out, bool* integer) {
  if (v.kind == mil::Value::Kind::kList || v.kind == mil::Value::Kind::kTuple) {
    for (const auto& e : v.elements) add_labels(e, out, integer);
    return;
  }
  if (v.kind != mil::Value::Kind::kTensor) {
    fail(ErrorCode::kParse, "classify: 'classes' must be a list of strings or int64 values");
  }
  if (v.type.tensor.dtype == mil::DataType::kString) {
    for (const auto& s : v.strings) out.push_back(s);
    *integer = false;
    return;
  }
  const int64_t n = v.element_count();
  for (int64_t i = 0; i < n; ++i) out.push_back(std::to_string(v.as_int(i)));
}

}  // namespace

std::vector<std::string> classify_labels(const mil::Operation& op, bool* integer) {
  const auto it = op.inputs.find("classes");
  const mil::Value* value = nullptr;
  if (it != op.inputs.end() && it->second.bindings.size() == 1 && it->second.bindings[0].value) {
    value = &*it->second.bindings[0].value;
  } else if (const auto attr = op.attributes.find("classes"); attr != op.attributes.end()) {
    value = &attr->second;
  }
  if (!value)
    fail(ErrorCode::kParse, "classify op '", op.name(), "': 'classes' must be a constant list");
  std::vector<std::string> labels;
  *integer = true;
  add_labels(*value, labels, integer);
  return labels;
}

std::optional<mil::Operation> find_classify_op(const mil::Block& block) {
  const mil::Operation* found = nullptr;
  for (const auto& op : block.operations) {
    if (op.type == "classify" && op.outputs.size() == 2) found = &op;
  }
  return found ? std::optional<mil::Operation>(*found) : std::nullopt;
}

}  // namespace coreml::runtime
