#include "runtime/fusion/conv_activation.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace coreml::runtime::fusion {
namespace {

// The single top-level op reading `name` as its "x", when `name` has no other use.
std::optional<size_t> only_reader(const GraphView& g, const std::string& name) {
  const auto users = g.users(name);
  if (users.size() != 1 || g.uses(name) != 1) return std::nullopt;
  if (g.input_name(g.op(users[0]), "x") != name) return std::nullopt;
  return users[0];
}

// Copies the constant scalar `param` of `from` into `to` as `as` (nothing when absent: the
// kernel takes the op's default); false when it is bound to anything but a constant scalar.
bool copy_scalar(const GraphView& g, const mil::Operation& from, const std::string& param,
                 mil::Operation& to, const std::string& as) {
  if (!g.has_input(from, param)) return true;
  if (!g.constant_scalar(from, param)) return false;
  const auto binding = g.input_binding(from, param);
  if (!binding) return false;
  to.inputs[as].bindings.push_back(*binding);
  return true;
}

}  // namespace

bool fuse_conv_activation(GraphView& g, size_t at) {
  const mil::Operation& conv = g.op(at);
  if (conv.type != "conv" || conv.outputs.size() != 1) return false;
  const std::string& conv_out = conv.outputs[0].name;
  const auto reader = only_reader(g, conv_out);
  if (!reader) return false;
  const size_t first = *reader;
  const mil::Operation& act = g.op(first);
  if (act.outputs.size() != 1) return false;
  mil::Operation fused = g.make_op("coreml.conv_activation", act);
  fused.inputs = conv.inputs;
  for (const auto& [key, value] : conv.attributes) {
    if (key != "name") fused.attributes[key] = value;
  }
  std::vector<size_t> removed = {at, first};
  size_t last = first;
  std::string kind;
  if (act.type == "relu" || act.type == "relu6" || act.type == "silu" || act.type == "sigmoid") {
    kind = act.type;
  } else if (act.type == "clip" || act.type == "sigmoid_hard") {
    if ((act.type == "clip" && (!g.has_input(act, "alpha") || !g.has_input(act, "beta"))) ||
        !copy_scalar(g, act, "alpha", fused, "activation_alpha") ||
        !copy_scalar(g, act, "beta", fused, "activation_beta")) {
      return false;
    }
    kind = act.type;
  } else if (act.type == "gelu") {
    const auto mode = g.constant_value(act, "mode");
    const std::string m = mode ? mode->as_string() : "EXACT";
    if (m != "EXACT" && m != "TANH_APPROXIMATION") return false;
    kind = m == "EXACT" ? "gelu" : "gelu_tanh";
  } else if (act.type == "thresholded_relu") {
    if (!copy_scalar(g, act, "alpha", fused, "activation_threshold")) return false;
    kind = "thresholded_relu";
    // hard-swish: t = thresholded_relu(c); mul(t, sigmoid_hard(t)).
    const std::string& t = act.outputs[0].name;
    const auto t_users = g.users(t);
    if (t_users.size() == 2 && g.uses(t) == 2) {
      for (int order = 0; order < 2 && kind == "thresholded_relu"; ++order) {
        const mil::Operation& hs = g.op(t_users[static_cast<size_t>(order)]);
        const size_t mul_at = t_users[static_cast<size_t>(1 - order)];
        const mil::Operation& mul = g.op(mul_at);
        if (hs.type != "sigmoid_hard" || hs.outputs.size() != 1 || mul.type != "mul" ||
            mul.outputs.size() != 1 || g.input_name(hs, "x") != t) {
          continue;
        }
        const std::string& h = hs.outputs[0].name;
        const auto mx = g.input_name(mul, "x"), my = g.input_name(mul, "y");
        if (g.uses(h) != 1 || !mx || !my || !((*mx == t && *my == h) || (*mx == h && *my == t))) {
          continue;
        }
        if (!copy_scalar(g, hs, "alpha", fused, "activation_alpha") ||
            !copy_scalar(g, hs, "beta", fused, "activation_beta")) {
          return false;
        }
        kind = "hard_swish";
        removed.push_back(t_users[static_cast<size_t>(order)]);
        removed.push_back(mul_at);
        last = std::max(mul_at, t_users[static_cast<size_t>(order)]);
      }
    }
  } else {
    return false;
  }
  fused.attributes["activation"] = mil::Value::string_scalar(kind);
  fused.outputs = g.op(last).outputs;
  const auto name = g.op(last).attributes.find("name");
  if (name != g.op(last).attributes.end()) fused.attributes["name"] = name->second;
  return g.replace(removed, last, std::move(fused));
}

}  // namespace coreml::runtime::fusion
