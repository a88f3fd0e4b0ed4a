// Elementwise layers: activation, innerProduct, unary functions, add/multiply/average/max/min
// (limited and full broadcasting), scale, bias and loadConstant.
#include <algorithm>
#include <string>

#include "format/neural_network/layers.h"

namespace coreml::format::nn {
namespace {

using L = spec::NeuralNetworkLayer;

std::vector<Blob> activation(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  return {{emit_activation(l, l.proto.activation(), l.input(), l.outputs[0]), l.input().rank}};
}

// y = x W^T + b over the trailing axes NeuralNetwork.proto lists per input rank.
std::vector<Blob> inner_product(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.inner_product();
  const int64_t cin = checked_size(p.input_channels(), l.where, "inputChannels");
  const int64_t cout = checked_size(p.output_channels(), l.where, "outputChannels");
  if (cin < 1 || cout < 1) l.where.fail("inputChannels and outputChannels must be positive");
  checked_product({cin, cout}, l.where, "weights");
  std::vector<std::pair<std::string, Arg>> args{
      {"weight", var(weight_value(l.emit, p.weights(), {cout, cin}, l.where, "weights"))}};
  if (p.use_bias()) {
    args.push_back(
        {"bias", var(l.emit.constant({cout}, weights(p.bias(), cout, l.where, "bias")))});
  }
  const auto linear = [&](const std::string& x, const std::string& out) {
    auto all = args;
    all.insert(all.begin(), {"x", var(x)});
    return l.emit.op("linear", std::move(all), out);
  };
  const Blob& x = l.input();
  switch (x.rank) {
    case 1:
    case 2:
    case 3: return {{linear(x.name, l.outputs[0]), x.rank}};
    case 4: {
      // (x1, x2 * x3 * x4) -> (x1, C_out, 1, 1)
      const std::string flat2 = l.emit.op("flatten2d", {{"x", var(x.name)}, {"axis", lit_int(1)}});
      const std::string y = linear(flat2, {});
      return {
          {l.emit.op("expand_dims", {{"x", var(y)}, {"axes", lit_ints({2, 3})}}, l.outputs[0]), 4}};
    }
    case 5: {
      // (x1 * x2, x3 * x4 * x5) -> (x1, x2, C_out, 1, 1)
      const std::string flat = l.emit.op("flatten2d", {{"x", var(x.name)}, {"axis", lit_int(2)}});
      const std::string y = linear(flat, {});
      const std::string y3 = l.emit.op("expand_dims", {{"x", var(y)}, {"axes", lit_ints({2, 3})}});
      return {{restore_leading(l, y3, x, 4, l.outputs[0]), 5}};
    }
    default: break;
  }
  l.where.fail("input rank ", x.rank, " is not 1 to 5");
}

std::vector<Blob> unary(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& u = l.proto.unary();
  const float scale = u.scale() == 0 ? 1.0f : u.scale();
  const float eps = u.epsilon() == 0 ? 1e-6f : u.epsilon();
  std::string x = l.input().name;
  if (scale != 1.0f) x = l.emit.op("mul", {{"x", var(x)}, {"y", lit_float(scale)}});
  if (u.shift() != 0.0f) x = l.emit.op("add", {{"x", var(x)}, {"y", lit_float(u.shift())}});
  const std::string& out = l.outputs[0];
  std::string y;
  switch (u.type()) {
    case 0: y = l.emit.op("sqrt", {{"x", var(x)}}, out); break;
    case 1: {
      const std::string s = l.emit.op("add", {{"x", var(x)}, {"y", lit_float(eps)}});
      y = l.emit.op("rsqrt", {{"x", var(s)}}, out);
      break;
    }
    case 2: {
      y = l.emit.op("inverse", {{"x", var(x)}, {"epsilon", lit_float(eps)}}, out);
      break;
    }
    case 3: y = l.emit.op("pow", {{"x", var(x)}, {"y", lit_float(u.alpha())}}, out); break;
    case 4: y = l.emit.op("exp", {{"x", var(x)}}, out); break;
    case 5: y = l.emit.op("log", {{"x", var(x)}}, out); break;
    case 6: y = l.emit.op("abs", {{"x", var(x)}}, out); break;
    case 7: y = l.emit.op("maximum", {{"x", var(x)}, {"y", lit_float(u.alpha())}}, out); break;
    default: l.where.fail("unary function type ", u.type(), " is not defined");
  }
  return {{y, l.input().rank}};
}

int max_rank(const Layer& l) {
  int r = 0;
  for (const auto& b : l.inputs) r = std::max(r, b.rank);
  return r;
}

// A chain of binary ops over every input (or x op alpha for one input).
std::vector<Blob> fold(Layer& l, const char* op, bool scalar_form, float alpha) {
  l.expect_inputs(scalar_form ? 1 : 2, 1 << 16);
  l.expect_outputs(1);
  if (l.inputs.size() == 1) {
    return {{l.emit.op(op, {{"x", var(l.input().name)}, {"y", lit_float(alpha)}}, l.outputs[0]),
             l.input().rank}};
  }
  std::string acc = l.input().name;
  for (size_t i = 1; i < l.inputs.size(); ++i) {
    acc = l.emit.op(op, {{"x", var(acc)}, {"y", var(l.input(i).name)}},
                    i + 1 == l.inputs.size() ? l.outputs[0] : std::string());
  }
  return {{acc, max_rank(l)}};
}

std::vector<Blob> average(Layer& l) {
  l.expect_inputs(1, 1 << 16);
  l.expect_outputs(1);
  std::string acc = l.input().name;
  for (size_t i = 1; i < l.inputs.size(); ++i) {
    acc = l.emit.op("add", {{"x", var(acc)}, {"y", var(l.input(i).name)}});
  }
  return {{l.emit.op("real_div",
                     {{"x", var(acc)}, {"y", lit_float(static_cast<double>(l.inputs.size()))}},
                     l.outputs[0]),
           max_rank(l)}};
}

// Scale/bias parameters of shape [1], [C], [1, H, W] or [C, H, W], shaped to broadcast over
// the last three axes.
std::string broadcast_param(Layer& l, const google::protobuf::RepeatedField<uint64_t>& shape,
                            const spec::WeightParams& w, const char* field) {
  std::vector<int64_t> dims;
  for (uint64_t d : shape) dims.push_back(checked_size(d, l.where, field));
  if (dims.empty()) dims = {1};
  if (dims.size() == 1 && dims[0] != 1) dims = {dims[0], 1, 1};
  if (dims.size() != 1 && dims.size() != 3) {
    l.where.fail(field, " shape must be [1], [C], [1, H, W] or [C, H, W]");
  }
  int64_t count = 1;
  for (int64_t d : dims) count = checked_product({count, d}, l.where, field);
  return l.emit.constant(dims, weights(w, count, l.where, field));
}

std::vector<Blob> scale(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& s = l.proto.scale();
  const std::string k = broadcast_param(l, s.shape_scale(), s.scale(), "scale");
  if (!s.use_bias()) {
    return {{l.emit.op("mul", {{"x", var(l.input().name)}, {"y", var(k)}}, l.outputs[0]),
             l.input().rank}};
  }
  const std::string b = broadcast_param(l, s.shape_bias(), s.bias(), "bias");
  const std::string y = l.emit.op("mul", {{"x", var(l.input().name)}, {"y", var(k)}});
  return {{l.emit.op("add", {{"x", var(y)}, {"y", var(b)}}, l.outputs[0]), l.input().rank}};
}

std::vector<Blob> bias(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.bias();
  const std::string b = broadcast_param(l, p.shape(), p.bias(), "bias");
  return {{l.emit.op("add", {{"x", var(l.input().name)}, {"y", var(b)}}, l.outputs[0]),
           l.input().rank}};
}

std::vector<Blob> load_constant(Layer& l) {
  l.expect_inputs(0, 0);
  l.expect_outputs(1);
  const auto& p = l.proto.load_constant();
  if (p.shape().size() != 3)
    l.where.fail("shape must be [C, H, W], got ", p.shape().size(), " values");
  const int64_t c = checked_size(p.shape(0), l.where, "shape");
  const int64_t h = checked_size(p.shape(1), l.where, "shape");
  const int64_t w = checked_size(p.shape(2), l.where, "shape");
  const int64_t count = checked_product({c, h, w}, l.where, "data");
  return {{l.emit.constant(float_tensor({1, 1, c, h, w}, weights(p.data(), count, l.where, "data")),
                           l.outputs[0]),
           5}};
}

std::vector<Blob> load_constant_nd(Layer& l) {
  l.expect_inputs(0, 0);
  l.expect_outputs(1);
  const auto& p = l.proto.load_constant_nd();
  if (p.shape().empty() || p.shape().size() > kMaxRank) {
    l.where.fail("shape must have 1 to 5 values, got ", p.shape().size());
  }
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (uint64_t d : p.shape()) {
    shape.push_back(checked_size(d, l.where, "shape"));
    count = checked_product({count, shape.back()}, l.where, "data");
  }
  return {{l.emit.constant(float_tensor(shape, weights(p.data(), count, l.where, "data")),
                           l.outputs[0]),
           static_cast<int>(shape.size())}};
}

}  // namespace

std::vector<Blob> translate_elementwise(Layer& l) {
  switch (l.proto.layer_case()) {
    case L::kActivation: return activation(l);
    case L::kInnerProduct: return inner_product(l);
    case L::kUnary: return unary(l);
    case L::kAdd: return fold(l, "add", true, l.proto.add().alpha());
    case L::kMultiply: return fold(l, "mul", true, l.proto.multiply().alpha());
    case L::kAverage: return average(l);
    case L::kMax: return fold(l, "maximum", false, 0);
    case L::kMin: return fold(l, "minimum", false, 0);
    case L::kScale: return scale(l);
    case L::kBias: return bias(l);
    case L::kLoadConstant: return load_constant(l);
    case L::kLoadConstantNd: return load_constant_nd(l);
    case L::kClip:
      l.expect_inputs(1, 1);
      l.expect_outputs(1);
      return {{l.emit.op("clip",
                         {{"x", var(l.input().name)},
                          {"alpha", lit_float(l.proto.clip().min_val())},
                          {"beta", lit_float(l.proto.clip().max_val())}},
                         l.outputs[0]),
               l.input().rank}};
    case L::kAddBroadcastable: return fold(l, "add", false, 0);
    case L::kMultiplyBroadcastable: return fold(l, "mul", false, 0);
    case L::kSubtractBroadcastable: l.expect_inputs(2, 2); return fold(l, "sub", false, 0);
    default: break;
  }
  l.where.unsupported("not an elementwise layer");
}

}  // namespace coreml::format::nn
