// Shared pieces of the layer translators: arity and rank checks, leading-axis folding, and
// activation functions.
#include <string>

#include "format/neural_network/layers.h"

namespace coreml::format::nn {

void Layer::expect_inputs(size_t min, size_t max) const {
  const size_t n = inputs.size();
  if (n < min || n > max) {
    if (min == max) where.fail("takes ", min, " input", min == 1 ? "" : "s", ", got ", n);
    where.fail("takes ", min, " to ", max, " inputs, got ", n);
  }
}

void Layer::expect_outputs(size_t n) const {
  if (outputs.size() != n) where.fail("produces ", n, " output(s), got ", outputs.size());
}

void Layer::expect_rank_at_least(const Blob& b, int rank) const {
  if (b.rank < rank) {
    where.fail("input '", b.name, "' has rank ", b.rank, ", the layer needs rank ", rank,
               " or more");
  }
}

int Layer::need_declared_rank() const {
  if (declared_rank < 1 || declared_rank > kMaxRank) {
    where.unsupported("the output rank depends on run-time values and the file does not declare ",
                      "it (outputTensor rank 1 to 5)");
  }
  return declared_rank;
}

std::string merge_leading(Layer& l, const Blob& x, int rank) {
  // reshape's 0 copies the input dimension aligned from the right: [-1, 0, 0, ...] keeps the
  // trailing rank - 1 axes and folds the others into the first.
  std::vector<int64_t> shape(static_cast<size_t>(rank), 0);
  shape[0] = -1;
  return l.emit.op("reshape", {{"x", var(x.name)}, {"shape", lit_ints(shape)}});
}

std::string restore_leading(Layer& l, const std::string& y, const Blob& like, int rank,
                            const std::string& out) {
  const int lead = like.rank - rank + 1;
  const auto i32 = mil::DataType::kInt32;
  const std::string like_shape = l.emit.op("shape", {{"x", var(like.name)}}, {}, i32);
  const std::string head = l.emit.op(
      "slice_by_index",
      {{"x", var(like_shape)}, {"begin", lit_ints({0})}, {"end", lit_ints({lead})}}, {}, i32);
  const std::string y_shape = l.emit.op("shape", {{"x", var(y)}}, {}, i32);
  const std::string tail = l.emit.op(
      "slice_by_index", {{"x", var(y_shape)}, {"begin", lit_ints({1})}, {"end", lit_ints({rank})}},
      {}, i32);
  const std::string shape = l.emit.op("concat",
                                      {{"values", var(head)},
                                       {"values", var(tail)},
                                       {"axis", lit_int(0)},
                                       {"interleave", lit_bool(false)}},
                                      {}, i32);
  return l.emit.op("reshape", {{"x", var(y)}, {"shape", var(shape)}}, out);
}

namespace {

// A per-channel parameter (length C or 1) shaped to broadcast over axis -3.
std::string channel_param(Layer& l, const spec::WeightParams& w, const char* field) {
  const int64_t n = w.float_value().size() > 0 ? w.float_value().size()
                                               : static_cast<int64_t>(w.float16_value().size() / 2);
  if (n < 1) l.where.fail(field, ": no values");
  const auto values = weights(w, n, l.where, field);
  return l.emit.constant(n == 1 ? std::vector<int64_t>{1} : std::vector<int64_t>{n, 1, 1}, values);
}

}  // namespace

std::string emit_activation(Layer& l, const spec::ActivationParams& a, const Blob& x,
                            const std::string& out) {
  using A = spec::ActivationParams;
  const Arg in = var(x.name);
  switch (a.nonlinearity_type_case()) {
    case A::kLinear:
      return l.emit.op("linear_activation",
                       {{"x", in},
                        {"alpha", lit_float(a.linear().alpha())},
                        {"beta", lit_float(a.linear().beta())}},
                       out);
    case A::kRelu: return l.emit.op("relu", {{"x", in}}, out);
    case A::kLeakyRelu:
      return l.emit.op("leaky_relu", {{"x", in}, {"alpha", lit_float(a.leaky_relu().alpha())}},
                       out);
    case A::kThresholdedRelu:
      return l.emit.op("thresholded_relu",
                       {{"x", in}, {"alpha", lit_float(a.thresholded_relu().alpha())}}, out);
    case A::kPrelu: {
      // max(x, 0) + alpha * min(x, 0), alpha per channel (axis -3) or shared.
      l.expect_rank_at_least(x, 3);
      const std::string alpha = channel_param(l, a.prelu().alpha(), "PReLU.alpha");
      const std::string pos = l.emit.op("relu", {{"x", in}});
      const std::string neg = l.emit.op("minimum", {{"x", in}, {"y", lit_float(0)}});
      const std::string scaled = l.emit.op("mul", {{"x", var(neg)}, {"y", var(alpha)}});
      return l.emit.op("add", {{"x", var(pos)}, {"y", var(scaled)}}, out);
    }
    case A::kTanh: return l.emit.op("tanh", {{"x", in}}, out);
    case A::kScaledTanh:
      return l.emit.op("scaled_tanh",
                       {{"x", in},
                        {"alpha", lit_float(a.scaled_tanh().alpha())},
                        {"beta", lit_float(a.scaled_tanh().beta())}},
                       out);
    case A::kSigmoid: return l.emit.op("sigmoid", {{"x", in}}, out);
    case A::kSigmoidHard:
      return l.emit.op("sigmoid_hard",
                       {{"x", in},
                        {"alpha", lit_float(a.sigmoid_hard().alpha())},
                        {"beta", lit_float(a.sigmoid_hard().beta())}},
                       out);
    case A::kElu: return l.emit.op("elu", {{"x", in}, {"alpha", lit_float(a.elu().alpha())}}, out);
    case A::kSoftsign: return l.emit.op("softsign", {{"x", in}}, out);
    case A::kSoftplus: return l.emit.op("softplus", {{"x", in}}, out);
    case A::kParametricSoftplus: {
      // alpha * log(1 + exp(beta * x)), per channel (axis -3) or shared.
      l.expect_rank_at_least(x, 3);
      const auto& p = a.parametric_softplus();
      const std::string alpha = channel_param(l, p.alpha(), "parametricSoftplus.alpha");
      const std::string beta = channel_param(l, p.beta(), "parametricSoftplus.beta");
      const std::string bx = l.emit.op("mul", {{"x", in}, {"y", var(beta)}});
      const std::string sp = l.emit.op("softplus", {{"x", var(bx)}});
      return l.emit.op("mul", {{"x", var(sp)}, {"y", var(alpha)}}, out);
    }
    case A::NONLINEARITY_TYPE_NOT_SET: break;
  }
  l.where.unsupported("activation type is not set or not supported");
}

std::string recurrent_activation_name(const Layer& l, const spec::ActivationParams& a) {
  using A = spec::ActivationParams;
  switch (a.nonlinearity_type_case()) {
    case A::kSigmoid: return "sigmoid";
    case A::kTanh: return "tanh";
    case A::kRelu: return "relu";
    case A::kSigmoidHard:
      if (a.sigmoid_hard().alpha() == 0.2f && a.sigmoid_hard().beta() == 0.5f)
        return "hard_sigmoid";
      break;
    case A::kLinear:
      if (a.linear().alpha() == 1.0f && a.linear().beta() == 0.0f) return "linear";
      break;
    default: break;
  }
  l.where.unsupported(
      "recurrent activation not supported (sigmoid, tanh, relu, hard sigmoid "
      "0.2/0.5 and identity are)");
}

}  // namespace coreml::format::nn
