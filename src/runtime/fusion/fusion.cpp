#include "runtime/fusion/fusion.h"

#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/fusion/conv_activation.h"
#include "runtime/fusion/conv_residual.h"
#include "runtime/fusion/graph_view.h"
#include "runtime/fusion/squeeze_excite.h"

namespace coreml::runtime::fusion {
namespace {

// ---- RMSNorm ---------------------------------------------------------------------------
// ANEMLL's norm: layer_norm over concat([x, -x]) along the last axis (mean 0, variance
// mean(x^2)), the first half sliced back, times a weight. The fused op computes
// x * rsqrt(mean(x^2) + eps), rounds it to the layer_norm's output type, then multiplies by the
// weight: the same values, without the doubled row and three intermediate tensors.
bool fuse_rms_norm(GraphView& g, size_t at) {
  const mil::Operation& ln = g.op(at);
  if (ln.type != "layer_norm" || ln.outputs.size() != 1) return false;
  if (g.has_input(ln, "gamma") || g.has_input(ln, "beta")) return false;
  const auto cat_name = g.input_name(ln, "x");
  if (!cat_name || g.uses(*cat_name) != 1) return false;
  const int rank = g.rank_of(*cat_name);
  if (rank < 1) return false;
  const auto axes = g.constant_ints(ln, "axes");
  if (!axes || axes->size() != 1 || ((*axes)[0] != -1 && (*axes)[0] != rank - 1)) return false;
  const auto eps = g.constant_value(ln, "epsilon");

  const auto cat_at = g.producer(*cat_name);
  if (!cat_at) return false;
  const mil::Operation& cat = g.op(*cat_at);
  if (cat.type != "concat" || g.binding_count(cat, "values") != 2) return false;
  const auto cat_axis = g.constant_int(cat, "axis");
  if (!cat_axis || (*cat_axis != -1 && *cat_axis != rank - 1)) return false;
  if (g.constant_int(cat, "interleave").value_or(0) != 0) return false;
  const auto x_name = g.input_name(cat, "values", 0);
  const auto neg_name = g.input_name(cat, "values", 1);
  if (!x_name || !neg_name || g.uses(*neg_name) != 1) return false;
  const auto neg_at = g.producer(*neg_name);
  if (!neg_at || !g.is_scaled_by(*neg_at, *x_name, -1.0)) return false;

  const auto dims = g.static_shape(*x_name);
  if (!dims || dims->empty()) return false;
  const int64_t h = dims->back();
  // The layer_norm output feeds one slice taking the first half of the last axis.
  const std::string& ln_out = ln.outputs[0].name;
  const auto users = g.users(ln_out);
  if (users.size() != 1 || g.uses(ln_out) != 1) return false;
  const mil::Operation& slice = g.op(users[0]);
  if (slice.type != "slice_by_index" || slice.outputs.size() != 1) return false;
  std::vector<int64_t> cat_shape = *dims;
  cat_shape.back() = 2 * h;
  if (!g.slice_selects(slice, cat_shape, *dims)) return false;
  size_t last = users[0];
  std::string out_name = slice.outputs[0].name;
  mil::NamedType out_type = slice.outputs[0];
  std::optional<mil::Binding> weight;
  std::vector<size_t> removed = {*neg_at, *cat_at, at, users[0]};
  const auto slice_users = g.users(out_name);
  if (slice_users.size() == 1 && g.uses(out_name) == 1) {
    const mil::Operation& mul = g.op(slice_users[0]);
    if (mul.type == "mul" && mul.outputs.size() == 1) {
      const auto w = g.other_operand(mul, out_name);
      if (w && g.is_constant(*w) && g.broadcasts_along_last(*w, h)) {
        weight = *w;
        last = slice_users[0];
        out_type = mul.outputs[0];
        removed.push_back(slice_users[0]);
      }
    }
  }
  mil::Operation fused = g.make_op("coreml.rms_norm", g.op(last));
  fused.inputs["x"].bindings.push_back(g.binding_of(*x_name));
  if (weight) fused.inputs["weight"].bindings.push_back(*weight);
  mil::Binding epsilon = g.float_literal(mil::DataType::kFloat32, 1e-5);
  if (eps) epsilon.value = *eps;
  fused.inputs["epsilon"].bindings.push_back(std::move(epsilon));
  fused.attributes["normalized_dtype"] =
      mil::Value::string_scalar(std::string(mil::data_type_name(ln.outputs[0].type.tensor.dtype)));
  fused.outputs = {out_type};
  return g.replace(removed, last, std::move(fused));
}

// ---- rotary embedding --------------------------------------------------------------------
// x * cos + rotate_half(x) * sin, rotate_half(x) = concat([-x2, x1]) of x's halves along the
// last axis. The fused op rounds both products to their declared types before adding them, as
// the separate ops do.
bool fuse_rope(GraphView& g, size_t at) {
  const mil::Operation& add = g.op(at);
  if (add.type != "add" || add.outputs.size() != 1) return false;
  const auto a = g.input_name(add, "x");
  const auto b = g.input_name(add, "y");
  if (!a || !b || g.uses(*a) != 1 || g.uses(*b) != 1) return false;
  for (int order = 0; order < 2; ++order) {
    const std::string& cos_product = order == 0 ? *a : *b;
    const std::string& sin_product = order == 0 ? *b : *a;
    const auto p_at = g.producer(cos_product);
    const auto q_at = g.producer(sin_product);
    if (!p_at || !q_at || g.op(*p_at).type != "mul" || g.op(*q_at).type != "mul") continue;
    // q = rot * sin, rot = concat([neg(x2), x1]).
    const mil::Operation& q = g.op(*q_at);
    for (int qo = 0; qo < 2; ++qo) {
      const auto rot = g.input_name(q, qo == 0 ? "x" : "y");
      const auto sin = g.input_name(q, qo == 0 ? "y" : "x");
      if (!rot || !sin || g.uses(*rot) != 1) continue;
      const auto rot_at = g.producer(*rot);
      if (!rot_at) continue;
      const mil::Operation& cat = g.op(*rot_at);
      if (cat.type != "concat" || g.binding_count(cat, "values") != 2) continue;
      if (g.constant_int(cat, "interleave").value_or(0) != 0) continue;
      const auto neg = g.input_name(cat, "values", 0);
      const auto x1 = g.input_name(cat, "values", 1);
      if (!neg || !x1 || g.uses(*neg) != 1 || g.uses(*x1) != 1) continue;
      const auto neg_at = g.producer(*neg);
      const auto x1_at = g.producer(*x1);
      if (!neg_at || !x1_at || g.op(*neg_at).type != "mul" ||
          g.op(*x1_at).type != "slice_by_index") {
        continue;
      }
      const auto x_name = g.input_name(g.op(*x1_at), "x");
      if (!x_name) continue;
      const auto dims = g.static_shape(*x_name);
      if (!dims || dims->empty() || dims->back() % 2 != 0) continue;
      const int rank = static_cast<int>(dims->size());
      const auto cat_axis = g.constant_int(cat, "axis");
      if (!cat_axis || (*cat_axis != -1 && *cat_axis != rank - 1)) continue;
      const int64_t half = dims->back() / 2;
      std::vector<int64_t> half_shape = *dims;
      half_shape.back() = half;
      if (!g.slice_selects(g.op(*x1_at), *dims, half_shape, 0)) continue;
      // neg = x2 * -1, x2 the second half of x.
      const mil::Operation& negop = g.op(*neg_at);
      std::optional<std::string> x2;
      for (const char* p : {"x", "y"}) {
        const auto n = g.input_name(negop, p);
        if (n && g.is_scaled_by(*neg_at, *n, -1.0)) x2 = n;
      }
      if (!x2 || g.uses(*x2) != 1) continue;
      const auto x2_at = g.producer(*x2);
      if (!x2_at || g.op(*x2_at).type != "slice_by_index" ||
          g.input_name(g.op(*x2_at), "x") != x_name ||
          !g.slice_selects(g.op(*x2_at), *dims, half_shape, half)) {
        continue;
      }
      // p = x * cos.
      const auto cos = g.other_operand(g.op(*p_at), *x_name);
      if (!cos) continue;
      mil::Operation fused = g.make_op("coreml.rope", add);
      fused.inputs["x"].bindings.push_back(g.binding_of(*x_name));
      fused.inputs["cos"].bindings.push_back(*cos);
      fused.inputs["sin"].bindings.push_back(g.binding_of(*sin));
      fused.attributes["product_dtype"] = mil::Value::string_scalar(
          std::string(mil::data_type_name(g.op(*p_at).outputs[0].type.tensor.dtype)));
      fused.outputs = add.outputs;
      return g.replace({*x1_at, *x2_at, *neg_at, *rot_at, *p_at, *q_at, at}, at, std::move(fused));
    }
  }
  return false;
}

// ---- softmax from primitives -------------------------------------------------------------
// exp(x - reduce_max(x)) / reduce_sum(exp(x - reduce_max(x))) over one axis (keep_dims), as
// some converters write a numerically safe softmax: becomes the softmax op itself (computed in
// fp32 and rounded once; the separate ops rounded four times).
bool fuse_softmax(GraphView& g, size_t at) {
  const mil::Operation& div = g.op(at);
  if (div.type != "real_div" || div.outputs.size() != 1) return false;
  const auto e = g.input_name(div, "x");
  const auto s = g.input_name(div, "y");
  if (!e || !s || g.uses(*e) != 2 || g.uses(*s) != 1) return false;
  const auto sum_at = g.producer(*s);
  const auto exp_at = g.producer(*e);
  if (!sum_at || !exp_at || g.op(*sum_at).type != "reduce_sum" || g.op(*exp_at).type != "exp") {
    return false;
  }
  if (g.input_name(g.op(*sum_at), "x") != e) return false;
  const auto d = g.input_name(g.op(*exp_at), "x");
  if (!d || g.uses(*d) != 1) return false;
  const auto sub_at = g.producer(*d);
  if (!sub_at || g.op(*sub_at).type != "sub") return false;
  const auto x = g.input_name(g.op(*sub_at), "x");
  const auto m = g.input_name(g.op(*sub_at), "y");
  if (!x || !m || g.uses(*m) != 1) return false;
  const auto max_at = g.producer(*m);
  if (!max_at || g.op(*max_at).type != "reduce_max" || g.input_name(g.op(*max_at), "x") != x) {
    return false;
  }
  const int rank = g.rank_of(*x);
  const auto axes_max = g.constant_ints(g.op(*max_at), "axes");
  const auto axes_sum = g.constant_ints(g.op(*sum_at), "axes");
  if (rank < 1 || !axes_max || !axes_sum || axes_max->size() != 1 || axes_sum->size() != 1) {
    return false;
  }
  const auto normal = [rank](int64_t a) { return a < 0 ? a + rank : a; };
  if (normal((*axes_max)[0]) != normal((*axes_sum)[0])) return false;
  for (size_t op : {*max_at, *sum_at}) {
    if (g.constant_int(g.op(op), "keep_dims").value_or(0) != 1) return false;
  }
  mil::Operation fused = g.make_op("softmax", div);
  fused.inputs["x"].bindings.push_back(g.binding_of(*x));
  fused.inputs["axis"].bindings.push_back(g.int_literal(normal((*axes_max)[0])));
  fused.outputs = div.outputs;
  return g.replace({*max_at, *sub_at, *exp_at, *sum_at, at}, at, std::move(fused));
}

// ---- attention ---------------------------------------------------------------------------
// matmul(q, k^T) [* scale] [+ mask | select(cond, fill, .)] -> softmax(last axis) ->
// matmul(., v), with k and v optionally repeated per query-head group (expand_dims + tile +
// reshape, grouped-query attention). The fused op reads k and v where they are and skips key
// columns the mask rules out entirely (-inf), as a causal cache does for every position not
// written yet. The select form is how converted PyTorch models (GPT-2's masked_fill) write a
// causal mask: a bool condition and a huge negative constant put in place of the score.
bool fuse_attention(GraphView& g, size_t at) {
  const mil::Operation& pv = g.op(at);
  if (pv.type != "matmul" || pv.outputs.size() != 1) return false;
  if (g.constant_int(pv, "transpose_x").value_or(0) != 0 ||
      g.constant_int(pv, "transpose_y").value_or(0) != 0) {
    return false;
  }
  const auto probs = g.input_name(pv, "x");
  const auto v_name = g.input_name(pv, "y");
  if (!probs || !v_name || g.uses(*probs) != 1) return false;
  const auto sm_at = g.producer(*probs);
  if (!sm_at || g.op(*sm_at).type != "softmax") return false;
  const mil::Operation& sm = g.op(*sm_at);
  const auto logits = g.input_name(sm, "x");
  if (!logits || g.uses(*logits) != 1) return false;
  const int rank = g.rank_of(*logits);
  if (rank != 4) return false;
  const auto axis = g.constant_int(sm, "axis");
  if (!axis || (*axis != -1 && *axis != rank - 1)) return false;
  std::vector<size_t> removed = {*sm_at, at};
  std::optional<mil::Binding> mask;
  std::optional<mil::Value> scale, select_fill;  // select_fill: the select form of the mask
  bool fill_when = true;  // the select puts the fill where cond is this value
  std::string current = *logits;
  std::vector<std::string> rounding;  // dtypes of the score steps, first to last
  // Walk back: [add(mask)] then [mul(scale)] then the q.k matmul.
  for (int step = 0; step < 2; ++step) {
    const auto p = g.producer(current);
    if (!p) return false;
    const mil::Operation& op = g.op(*p);
    if (op.type == "add" && !mask) {
      const auto xa = g.input_name(op, "x");
      const auto ya = g.input_name(op, "y");
      // The score is the operand produced by a mul or matmul; the other is the mask.
      const bool x_is_score =
          xa && g.producer(*xa) &&
          (g.op(*g.producer(*xa)).type == "mul" || g.op(*g.producer(*xa)).type == "matmul");
      const auto score = x_is_score ? xa : ya;
      if (!score || g.uses(*score) != 1) return false;
      mask = g.input_binding(op, x_is_score ? "y" : "x");
      if (!mask) return false;
      rounding.insert(rounding.begin(),
                      std::string(mil::data_type_name(op.outputs[0].type.tensor.dtype)));
      removed.push_back(*p);
      current = *score;
    } else if (op.type == "select" && !mask) {
      // select(cond, fill, score) or select(cond, score, fill) with a constant scalar fill.
      const auto a_fill = g.constant_scalar(op, "a");
      const auto b_fill = g.constant_scalar(op, "b");
      if (a_fill.has_value() == b_fill.has_value()) return false;
      fill_when = a_fill.has_value();
      const auto score = g.input_name(op, fill_when ? "b" : "a");
      const auto cond = g.input_name(op, "cond");
      if (!score || !cond || g.uses(*score) != 1) return false;
      if (g.tensor_dtype(*cond) != mil::DataType::kBool) return false;
      mask = g.input_binding(op, "cond");
      if (!mask) return false;
      select_fill = fill_when ? a_fill : b_fill;
      rounding.insert(rounding.begin(),
                      std::string(mil::data_type_name(op.outputs[0].type.tensor.dtype)));
      removed.push_back(*p);
      current = *score;
    } else if (op.type == "mul" && !scale) {
      const auto xa = g.input_name(op, "x");
      std::optional<std::string> score;
      std::optional<mil::Value> value;
      for (const char* s : {"x", "y"}) {
        const auto v = g.constant_scalar(op, s);
        const auto n = g.input_name(op, s[0] == 'x' ? "y" : "x");
        if (v && n) {
          value = v;
          score = n;
        }
      }
      if (!score || !value || g.uses(*score) != 1) return false;
      scale = value;
      rounding.insert(rounding.begin(),
                      std::string(mil::data_type_name(op.outputs[0].type.tensor.dtype)));
      removed.push_back(*p);
      current = *score;
    } else {
      break;
    }
  }
  const auto qk_at = g.producer(current);
  if (!qk_at || g.op(*qk_at).type != "matmul") return false;
  const mil::Operation& qk = g.op(*qk_at);
  if (g.constant_int(qk, "transpose_x").value_or(0) != 0 ||
      g.constant_int(qk, "transpose_y").value_or(0) != 1) {
    return false;
  }
  const auto q_name = g.input_name(qk, "x");
  const auto k_name = g.input_name(qk, "y");
  if (!q_name || !k_name || g.rank_of(*q_name) != 4) return false;
  removed.push_back(*qk_at);
  rounding.insert(rounding.begin(),
                  std::string(mil::data_type_name(qk.outputs[0].type.tensor.dtype)));
  // Grouped-query attention: k and v repeated per group by expand_dims + tile + reshape.
  int64_t group = 1;
  std::string k_source = *k_name, v_source = *v_name;
  std::vector<size_t> k_chain, v_chain;
  int64_t k_group = 1, v_group = 1;
  if (g.repeated_heads(*k_name, &k_source, &k_group, &k_chain) &&
      g.repeated_heads(*v_name, &v_source, &v_group, &v_chain) && k_group == v_group) {
    group = k_group;
    removed.insert(removed.end(), k_chain.begin(), k_chain.end());
    removed.insert(removed.end(), v_chain.begin(), v_chain.end());
  } else {
    k_source = *k_name;
    v_source = *v_name;
  }
  mil::Operation fused = g.make_op("coreml.attention", pv);
  fused.inputs["query"].bindings.push_back(g.binding_of(*q_name));
  fused.inputs["key"].bindings.push_back(g.binding_of(k_source));
  fused.inputs["value"].bindings.push_back(g.binding_of(v_source));
  if (mask) fused.inputs["mask"].bindings.push_back(*mask);
  mil::Binding scale_binding = g.float_literal(mil::DataType::kFloat32, 1.0);
  if (scale) scale_binding.value = *scale;
  fused.inputs["scale"].bindings.push_back(std::move(scale_binding));
  fused.inputs["group"].bindings.push_back(g.int_literal(group));
  if (select_fill) {
    mil::Binding fill_binding = g.float_literal(mil::DataType::kFloat32, 0.0);
    fill_binding.value = *select_fill;
    fused.inputs["mask_fill"].bindings.push_back(std::move(fill_binding));
    fused.attributes["mask_select"] = mil::Value::bool_scalar(true);
    fused.attributes["mask_fill_when"] = mil::Value::bool_scalar(fill_when);
  }
  // The type each score step rounds to, in order (matmul, [mul], [add]), and the softmax's.
  std::string steps;
  for (const auto& r : rounding) steps += (steps.empty() ? "" : ",") + r;
  fused.attributes["score_dtypes"] = mil::Value::string_scalar(steps);
  fused.attributes["prob_dtype"] =
      mil::Value::string_scalar(std::string(mil::data_type_name(sm.outputs[0].type.tensor.dtype)));
  fused.attributes["has_scale"] = mil::Value::bool_scalar(scale.has_value());
  fused.attributes["has_mask"] = mil::Value::bool_scalar(mask.has_value());
  fused.outputs = pv.outputs;
  return g.replace(removed, at, std::move(fused));
}

}  // namespace

bool fuse(mil::Function& function) {
  bool changed = false;
  // Each pass walks the block once, scheduling its rewrites (matches never share an op), and
  // applies them together.
  GraphView g(function);
  for (auto pass : {fuse_rms_norm, fuse_rope, fuse_softmax, fuse_attention, fuse_conv_activation,
                    fuse_conv_residual, fuse_squeeze_excite}) {
    for (size_t i = 0; i < g.size(); ++i) pass(g, i);
    changed |= g.commit();
  }
  return changed;
}

}  // namespace coreml::runtime::fusion
