#include "runtime/fusion/squeeze_excite.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace coreml::runtime::fusion {
namespace {

bool float_dtype(std::optional<mil::DataType> t) {
  return t && (*t == mil::DataType::kFloat16 || *t == mil::DataType::kFloat32);
}

std::string dtype_string(const GraphView& g, const std::string& name) {
  return std::string(mil::data_type_name(*g.tensor_dtype(name)));
}

// A 1x1 conv (plain, or coreml.conv_activation) over a [N, C, 1, 1] value whose only reader
// is the next step: constant weight [out, in, 1, 1], optional constant bias [out], one group
// and no padding (strides and dilations do nothing on one pixel).
struct PointConv {
  size_t at = 0;
  std::string input;
  int64_t out = 0, in = 0;
};

std::optional<PointConv> point_conv(const GraphView& g, const std::string& result) {
  const auto at = g.producer(result);
  if (!at || g.uses(result) != 1) return std::nullopt;
  const mil::Operation& conv = g.op(*at);
  if ((conv.type != "conv" && conv.type != "coreml.conv_activation") || conv.outputs.size() != 1)
    return std::nullopt;
  if (!float_dtype(g.tensor_dtype(result))) return std::nullopt;
  const auto input = g.input_name(conv, "x");
  const auto weight = g.input_binding(conv, "weight");
  if (!input || !weight || !g.is_constant(*weight) || weight->value) return std::nullopt;
  const auto ws = g.static_shape(weight->name);
  if (!ws || ws->size() != 4 || (*ws)[2] != 1 || (*ws)[3] != 1) return std::nullopt;
  if (g.constant_int(conv, "groups").value_or(1) != 1) return std::nullopt;
  if (g.has_input(conv, "bias")) {
    const auto bias = g.input_binding(conv, "bias");
    if (!bias || !g.is_constant(*bias) || bias->value) return std::nullopt;
    const auto bs = g.static_shape(bias->name);
    if (!bs || bs->size() != 1 || (*bs)[0] != (*ws)[0]) return std::nullopt;
  }
  if (g.has_input(conv, "pad_type")) {
    const auto pad_type = g.constant_value(conv, "pad_type");
    if (!pad_type || pad_type->type.tensor.dtype != mil::DataType::kString) return std::nullopt;
    if (pad_type->as_string() == "custom" && g.has_input(conv, "pad")) {
      const auto pad = g.constant_ints(conv, "pad");
      if (!pad || std::any_of(pad->begin(), pad->end(), [](int64_t p) { return p != 0; }))
        return std::nullopt;
    }
  }
  return PointConv{*at, *input, (*ws)[0], (*ws)[1]};
}

// Copies conv `c`'s weight, bias and activation into `fused` under `prefix`.
bool copy_conv(const GraphView& g, const mil::Operation& c, const std::string& prefix,
               mil::Operation& fused) {
  fused.inputs[prefix + "_weight"].bindings.push_back(*g.input_binding(c, "weight"));
  if (g.has_input(c, "bias")) {
    fused.inputs[prefix + "_bias"].bindings.push_back(*g.input_binding(c, "bias"));
  }
  if (c.type != "coreml.conv_activation") return true;
  const auto activation = c.attributes.find("activation");
  if (activation == c.attributes.end()) return false;
  fused.attributes[prefix + "_activation"] = activation->second;
  for (const char* param : {"alpha", "beta", "threshold"}) {
    const std::string from = std::string("activation_") + param;
    if (!g.has_input(c, from)) continue;
    const auto binding = g.input_binding(c, from);
    if (!binding || !g.constant_scalar(c, from)) return false;
    fused.inputs[prefix + "_" + param].bindings.push_back(*binding);
  }
  return true;
}

}  // namespace

bool fuse_squeeze_excite(GraphView& g, size_t at) {
  const mil::Operation& mul = g.op(at);
  if (mul.type != "mul" || mul.outputs.size() != 1) return false;
  const auto a = g.input_name(mul, "x");
  const auto b = g.input_name(mul, "y");
  if (!a || !b || *a == *b) return false;
  if (!float_dtype(g.tensor_dtype(mul.outputs[0].name))) return false;
  for (int order = 0; order < 2; ++order) {
    const std::string& x = order == 0 ? *a : *b;
    const std::string& gate = order == 0 ? *b : *a;
    if (g.rank_of(x) != 4 || !float_dtype(g.tensor_dtype(x))) continue;
    const auto excite = point_conv(g, gate);
    if (!excite) continue;
    const auto squeeze = point_conv(g, excite->input);
    if (!squeeze || squeeze->out != excite->in || squeeze->in != excite->out) continue;
    // The mean over H and W of x, kept as [N, C, 1, 1].
    const std::string& mean = squeeze->input;
    const auto mean_at = g.producer(mean);
    if (!mean_at || g.uses(mean) != 1) continue;
    const mil::Operation& reduce = g.op(*mean_at);
    if (reduce.type != "reduce_mean" || reduce.outputs.size() != 1 ||
        g.input_name(reduce, "x") != x || !float_dtype(g.tensor_dtype(mean))) {
      continue;
    }
    if (g.constant_int(reduce, "keep_dims").value_or(0) != 1) continue;
    auto axes = g.constant_ints(reduce, "axes");
    if (!axes || axes->size() != 2) continue;
    for (auto& axis : *axes) axis = axis < 0 ? axis + 4 : axis;
    std::sort(axes->begin(), axes->end());
    if ((*axes)[0] != 2 || (*axes)[1] != 3) continue;
    if (const auto shape = g.static_shape(x); shape && (*shape)[1] != excite->out) continue;

    mil::Operation fused = g.make_op("coreml.squeeze_excite", mul);
    fused.inputs["x"].bindings.push_back(g.binding_of(x));
    if (!copy_conv(g, g.op(squeeze->at), "squeeze", fused) ||
        !copy_conv(g, g.op(excite->at), "excite", fused)) {
      return false;
    }
    // The dtype each intermediate was stored in by its own op.
    fused.attributes["mean_dtype"] = mil::Value::string_scalar(dtype_string(g, mean));
    fused.attributes["squeeze_dtype"] = mil::Value::string_scalar(dtype_string(g, excite->input));
    fused.attributes["excite_dtype"] = mil::Value::string_scalar(dtype_string(g, gate));
    fused.outputs = mul.outputs;
    return g.replace({*mean_at, squeeze->at, excite->at, at}, at, std::move(fused));
  }
  return false;
}

}  // namespace coreml::runtime::fusion
