#include "runtime/fusion/conv_residual.h"

#include <optional>
#include <string>
#include <vector>

namespace coreml::runtime::fusion {
namespace {

// The single top-level op reading `name`, when `name` has no other use.
std::optional<size_t> only_user(const GraphView& g, const std::string& name) {
  const auto users = g.users(name);
  if (users.size() != 1 || g.uses(name) != 1) return std::nullopt;
  return users[0];
}

}  // namespace

bool fuse_conv_residual(GraphView& g, size_t at) {
  const mil::Operation& conv = g.op(at);
  if (conv.type != "conv" || conv.outputs.size() != 1) return false;
  // Grouped convs have no prepared kernel that could take the residual.
  if (g.constant_int(conv, "groups").value_or(1) != 1) return false;
  const std::string& conv_out = conv.outputs[0].name;
  const auto add_at = only_user(g, conv_out);
  if (!add_at) return false;
  const mil::Operation& add = g.op(*add_at);
  if (add.type != "add" || add.outputs.size() != 1) return false;
  const auto residual = g.other_operand(add, conv_out);
  if (!residual || residual->value) return false;
  // No broadcasting and no type promotion: the residual is read element for element.
  const auto shape = g.static_shape(conv_out);
  if (!shape || g.static_shape(residual->name) != shape ||
      g.static_shape(add.outputs[0].name) != shape) {
    return false;
  }
  const auto dtype = g.tensor_dtype(conv_out);
  if (!dtype || g.tensor_dtype(residual->name) != dtype ||
      g.tensor_dtype(add.outputs[0].name) != dtype) {
    return false;
  }
  std::vector<size_t> removed = {at, *add_at};
  size_t last = *add_at;
  std::string activation;
  const std::string& sum = add.outputs[0].name;
  if (const auto relu_at = only_user(g, sum)) {
    const mil::Operation& relu = g.op(*relu_at);
    if (relu.type == "relu" && relu.outputs.size() == 1 && g.input_name(relu, "x") == sum) {
      activation = "relu";
      removed.push_back(*relu_at);
      last = *relu_at;
    }
  }
  mil::Operation fused = g.make_op("coreml.conv_residual", g.op(last));
  fused.inputs = conv.inputs;
  fused.inputs["residual"].bindings.push_back(*residual);
  for (const auto& [key, value] : conv.attributes) {
    if (key != "name") fused.attributes[key] = value;
  }
  if (!activation.empty()) fused.attributes["activation"] = mil::Value::string_scalar(activation);
  fused.outputs = g.op(last).outputs;
  return g.replace(removed, last, std::move(fused));
}

}  // namespace coreml::runtime::fusion
