// Specification 4+ ND layers beyond the first family: comparisons and logical ops (1.0/0.0
// outputs), mod/floorDiv, the gather/scatter family, stacking/reversing/windows, generators
// (fill*, broadcastTo*, range*, random*), masks (band part, triangles, where) and
// oneHot/cumSum/argSort/clampedReLU/sliceBySize. NN tensors are fp32 throughout: indices arrive
// as floats and integer or boolean results leave as floats.
#include <algorithm>
#include <limits>
#include <string>

#include "format/neural_network/layers.h"

namespace coreml::format::nn {
namespace indexing_layers {
namespace {

using L = spec::NeuralNetworkLayer;
constexpr auto kI32 = mil::DataType::kInt32;
constexpr auto kBool = mil::DataType::kBool;

int64_t axis_of(const Layer& l, int64_t axis, int rank, const char* field = "axis") {
  if (axis < -rank || axis >= rank) {
    l.where.fail(field, " ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}

std::string to_int(Layer& l, const std::string& x) {
  return l.emit.op("cast", {{"x", var(x)}, {"dtype", lit_string("int32")}}, {}, kI32);
}

std::string to_float(Layer& l, const std::string& x, const std::string& out = {}) {
  return l.emit.op("cast", {{"x", var(x)}, {"dtype", lit_string("fp32")}}, out);
}

// NN truth: any non-zero value.
std::string to_bool(Layer& l, const std::string& x) {
  return l.emit.op("not_equal", {{"x", var(x)}, {"y", lit_float(0.0)}}, {}, kBool);
}

int max_rank(const Layer& l) {
  int r = 0;
  for (const auto& b : l.inputs) r = std::max(r, b.rank);
  return r;
}

// equal .. greaterEqual: two inputs, or one input against alpha.
std::vector<Blob> compare(Layer& l, const char* type, float alpha) {
  l.expect_inputs(1, 2);
  l.expect_outputs(1);
  const Arg y = l.inputs.size() == 2 ? var(l.input(1).name) : lit_float(alpha);
  const std::string b = l.emit.op(type, {{"x", var(l.input(0).name)}, {"y", y}}, {}, kBool);
  return {{to_float(l, b, l.outputs[0]), max_rank(l)}};
}

std::vector<Blob> logical(Layer& l, const char* type) {
  l.expect_outputs(1);
  if (std::string(type) == "logical_not") {
    l.expect_inputs(1, 1);
    const std::string b = l.emit.op(type, {{"x", var(to_bool(l, l.input().name))}}, {}, kBool);
    return {{to_float(l, b, l.outputs[0]), l.input().rank}};
  }
  l.expect_inputs(2, 2);
  const std::string b = l.emit.op(
      type, {{"x", var(to_bool(l, l.input(0).name))}, {"y", var(to_bool(l, l.input(1).name))}}, {},
      kBool);
  return {{to_float(l, b, l.outputs[0]), max_rank(l)}};
}

std::vector<Blob> binary(Layer& l, const char* type) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  return {
      {l.emit.op(type, {{"x", var(l.input(0).name)}, {"y", var(l.input(1).name)}}, l.outputs[0]),
       max_rank(l)}};
}

// asinh(x) = log(x + sqrt(x^2 + 1)), acosh(x) = log(x + sqrt(x^2 - 1)): MIL has neither.
std::vector<Blob> inverse_hyperbolic(Layer& l, float one) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const std::string x = l.input().name;
  const std::string square = l.emit.op("mul", {{"x", var(x)}, {"y", var(x)}});
  const std::string root = l.emit.op(
      "sqrt", {{"x", var(l.emit.op("add", {{"x", var(square)}, {"y", lit_float(one)}}))}});
  const std::string sum = l.emit.op("add", {{"x", var(x)}, {"y", var(root)}});
  return {{l.emit.op("log", {{"x", var(sum)}}, l.outputs[0]), l.input().rank}};
}

const char* scatter_mode(const Layer& l, int mode) {
  static const char* const kModes[] = {"update", "add", "sub", "mul", "div", "max", "min"};
  if (mode < 0 || mode > 6) l.where.fail("scatter mode ", mode, " is not defined");
  return kModes[mode];
}

std::vector<Blob> gather_nd(Layer& l) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  // rank = indices.rank - 1 + params.rank - indices.shape[-1]: the last term is a run-time size.
  const int rank = l.need_declared_rank();
  return {{l.emit.op("gather_nd",
                     {{"x", var(l.input(0).name)}, {"indices", var(to_int(l, l.input(1).name))}},
                     l.outputs[0]),
           rank}};
}

std::vector<Blob> scatter(Layer& l) {
  l.expect_inputs(3, 3);
  l.expect_outputs(1);
  const auto& p = l.proto.scatter();
  const int rank = l.input(0).rank;
  return {{l.emit.op("scatter",
                     {{"data", var(l.input(0).name)},
                      {"indices", var(to_int(l, l.input(1).name))},
                      {"updates", var(l.input(2).name)},
                      {"axis", lit_int(axis_of(l, p.axis(), rank))},
                      {"mode", lit_string(scatter_mode(l, p.mode()))}},
                     l.outputs[0]),
           rank}};
}

std::vector<Blob> scatter_nd(Layer& l) {
  l.expect_inputs(3, 3);
  l.expect_outputs(1);
  return {{l.emit.op("scatter_nd",
                     {{"data", var(l.input(0).name)},
                      {"indices", var(to_int(l, l.input(1).name))},
                      {"updates", var(l.input(2).name)},
                      {"mode", lit_string(scatter_mode(l, l.proto.scatter_nd().mode()))}},
                     l.outputs[0]),
           l.input(0).rank}};
}

std::vector<Blob> gather_along_axis(Layer& l) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  const int rank = l.input(0).rank;
  if (l.input(1).rank != rank) l.where.fail("indices must have the rank of the data, ", rank);
  return {{l.emit.op("gather_along_axis",
                     {{"x", var(l.input(0).name)},
                      {"indices", var(to_int(l, l.input(1).name))},
                      {"axis", lit_int(axis_of(l, l.proto.gather_along_axis().axis(), rank))}},
                     l.outputs[0]),
           rank}};
}

std::vector<Blob> scatter_along_axis(Layer& l) {
  l.expect_inputs(3, 3);
  l.expect_outputs(1);
  const auto& p = l.proto.scatter_along_axis();
  const int rank = l.input(0).rank;
  if (l.input(1).rank != rank || l.input(2).rank != rank) {
    l.where.fail("indices and updates must have the rank of the container, ", rank);
  }
  return {{l.emit.op("scatter_along_axis",
                     {{"data", var(l.input(0).name)},
                      {"indices", var(to_int(l, l.input(1).name))},
                      {"updates", var(l.input(2).name)},
                      {"axis", lit_int(axis_of(l, p.axis(), rank))},
                      {"mode", lit_string(scatter_mode(l, p.mode()))}},
                     l.outputs[0]),
           rank}};
}

std::vector<Blob> stack(Layer& l) {
  l.expect_inputs(1, 1 << 16);
  l.expect_outputs(1);
  const int rank = l.input().rank + 1;
  if (rank > kMaxRank) l.where.fail("output rank ", rank, " exceeds 5");
  std::vector<std::pair<std::string, Arg>> args;
  for (const auto& b : l.inputs) {
    if (b.rank != l.input().rank) l.where.fail("inputs must have one rank");
    args.push_back({"values", var(b.name)});
  }
  args.push_back({"axis", lit_int(axis_of(l, l.proto.stack().axis(), rank))});
  return {{l.emit.op("stack", std::move(args), l.outputs[0]), rank}};
}

std::vector<Blob> reverse(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& dims = l.proto.reverse().reverse_dim();
  const int rank = l.input().rank;
  if (dims.size() != rank) l.where.fail("reverseDim has ", dims.size(), " values for rank ", rank);
  std::vector<int64_t> axes;
  for (int i = 0; i < rank; ++i) {
    if (dims[i]) axes.push_back(i);
  }
  if (axes.empty()) {
    return {{l.emit.op("identity", {{"x", var(l.input().name)}}, l.outputs[0]), rank}};
  }
  return {
      {l.emit.op("reverse", {{"x", var(l.input().name)}, {"axes", lit_ints(axes)}}, l.outputs[0]),
       rank}};
}

std::vector<Blob> reverse_seq(Layer& l) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  const auto& p = l.proto.reverse_seq();
  const int rank = l.input().rank;
  const int64_t batch = axis_of(l, p.batch_axis(), rank, "batchAxis");
  const int64_t seq = axis_of(l, p.sequence_axis(), rank, "sequenceAxis");
  if (batch == seq) l.where.fail("batchAxis and sequenceAxis must differ");
  return {{l.emit.op("reverse_sequence",
                     {{"x", var(l.input(0).name)},
                      {"lengths", var(to_int(l, l.input(1).name))},
                      {"seq_axis", lit_int(seq)},
                      {"batch_axis", lit_int(batch)}},
                     l.outputs[0]),
           rank}};
}

std::vector<Blob> sliding_windows(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.sliding_windows();
  const int rank = l.input().rank;
  if (rank + 1 > kMaxRank) l.where.fail("output rank ", rank + 1, " exceeds 5");
  const int64_t size = checked_size(p.window_size(), l.where, "windowSize");
  const int64_t step = checked_size(p.step(), l.where, "step");
  if (size < 1 || step < 1) l.where.fail("windowSize and step must be positive");
  return {{l.emit.op("sliding_windows",
                     {{"x", var(l.input().name)},
                      {"axis", lit_int(axis_of(l, p.axis(), rank))},
                      {"size", lit_int(size)},
                      {"stride", lit_int(step)}},
                     l.outputs[0]),
           rank + 1}};
}

// A literal shape from the file: 1 to 5 sizes, each within the weight bound.
std::vector<int64_t> static_shape(const Layer& l,
                                  const google::protobuf::RepeatedField<uint64_t>& s,
                                  const char* field) {
  if (s.empty() || s.size() > kMaxRank) l.where.fail(field, " must have 1 to 5 values");
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (uint64_t d : s) {
    shape.push_back(checked_size(d, l.where, field));
    count = checked_product({count, shape.back()}, l.where, field);
  }
  return shape;
}

// The shape for fill/random ops: of input 0 (Like), literal (Static) or input 0's values
// (Dynamic); `rank` receives the output rank.
Arg shape_arg(Layer& l, int kind, const google::protobuf::RepeatedField<uint64_t>& literal,
              const char* field, int* rank) {
  if (kind == 0) {
    l.expect_inputs(1, 1);
    *rank = l.input().rank;
    return var(l.emit.op("shape", {{"x", var(l.input().name)}}, {}, kI32));
  }
  if (kind == 1) {
    l.expect_inputs(0, 0);
    const auto shape = static_shape(l, literal, field);
    *rank = static_cast<int>(shape.size());
    return lit_ints(shape);
  }
  l.expect_inputs(1, 1);
  if (l.input().rank != 1) l.where.fail("the shape input must have rank 1");
  *rank = l.need_declared_rank();
  return var(to_int(l, l.input().name));
}

std::vector<Blob> fill(Layer& l, int kind) {
  l.expect_outputs(1);
  const auto& p = kind == 0   ? l.proto.fill_like()
                  : kind == 1 ? l.proto.fill_static()
                              : l.proto.fill_dynamic();
  int rank = 0;
  const Arg shape = shape_arg(l, kind, p.target_shape(), "targetShape", &rank);
  return {
      {l.emit.op("fill", {{"shape", shape}, {"value", lit_float(p.value())}}, l.outputs[0]), rank}};
}

// broadcastTo*: x + zeros of the target shape (NumPy broadcasting).
std::vector<Blob> broadcast_to(Layer& l, int kind) {
  l.expect_outputs(1);
  int rank = 0;
  std::string zeros;
  if (kind == 0) {
    l.expect_inputs(2, 2);
    rank = l.input(1).rank;
    zeros = l.emit.op("fill_like", {{"ref_tensor", var(l.input(1).name)}, {"value", lit_float(0)}});
  } else if (kind == 1) {
    l.expect_inputs(1, 1);
    const auto shape = static_shape(l, l.proto.broadcast_to_static().target_shape(), "targetShape");
    rank = static_cast<int>(shape.size());
    zeros = l.emit.op("fill", {{"shape", lit_ints(shape)}, {"value", lit_float(0)}});
  } else {
    l.expect_inputs(2, 2);
    if (l.input(1).rank != 1) l.where.fail("the shape input must have rank 1");
    rank = l.need_declared_rank();
    zeros =
        l.emit.op("fill", {{"shape", var(to_int(l, l.input(1).name))}, {"value", lit_float(0)}});
  }
  if (l.input(0).rank > rank) {
    l.where.fail("input rank ", l.input(0).rank, " exceeds the target rank ", rank);
  }
  return {{l.emit.op("add", {{"x", var(l.input(0).name)}, {"y", var(zeros)}}, l.outputs[0]), rank}};
}

std::vector<Blob> reshape_to(Layer& l, bool like) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  int rank = 0;
  std::string shape;
  if (like) {
    rank = l.input(1).rank;
    shape = l.emit.op("shape", {{"x", var(l.input(1).name)}}, {}, kI32);
  } else {
    if (l.input(1).rank != 1) l.where.fail("the shape input must have rank 1");
    rank = l.need_declared_rank();
    shape = to_int(l, l.input(1).name);
  }
  return {{l.emit.op("reshape", {{"x", var(l.input(0).name)}, {"shape", var(shape)}}, l.outputs[0]),
           rank}};
}

std::vector<Blob> range_static(Layer& l) {
  l.expect_inputs(0, 0);
  l.expect_outputs(1);
  const auto& p = l.proto.range_static();
  if (p.step_size_value() == 0.0f) l.where.fail("stepSizeValue must not be 0");
  return {{l.emit.op("range_1d",
                     {{"start", lit_float(p.start_value())},
                      {"end", lit_float(p.end_value())},
                      {"step", lit_float(p.step_size_value())}},
                     l.outputs[0]),
           1}};
}

// rangeDynamic: inputs end, [start], [step], each of one value.
std::vector<Blob> range_dynamic(Layer& l) {
  l.expect_inputs(1, 3);
  l.expect_outputs(1);
  const auto& p = l.proto.range_dynamic();
  const auto scalar = [&](size_t i) {
    if (l.input(i).rank > 1) l.where.fail("input ", i, " must be a scalar or of shape [1]");
    return var(l.emit.op("reshape", {{"x", var(l.input(i).name)}, {"shape", lit_ints({})}}));
  };
  const Arg start = l.inputs.size() > 1 ? scalar(1) : lit_float(p.start_value());
  if (l.inputs.size() < 3 && p.step_size_value() == 0.0f) {
    l.where.fail("stepSizeValue must not be 0");
  }
  const Arg step = l.inputs.size() > 2 ? scalar(2) : lit_float(p.step_size_value());
  return {
      {l.emit.op("range_1d", {{"start", start}, {"end", scalar(0)}, {"step", step}}, l.outputs[0]),
       1}};
}

int32_t seed_of(const Layer& l, int64_t seed) {
  if (seed < std::numeric_limits<int32_t>::min() || seed > std::numeric_limits<int32_t>::max()) {
    l.where.fail("seed ", seed, " is out of range");
  }
  return static_cast<int32_t>(seed);
}

std::vector<Blob> random(Layer& l) {
  l.expect_outputs(1);
  int rank = 0;
  const L::LayerCase c = l.proto.layer_case();
  std::vector<std::pair<std::string, Arg>> args;
  const char* type = nullptr;
  if (c == L::kRandomNormalLike || c == L::kRandomNormalStatic || c == L::kRandomNormalDynamic) {
    const auto& p = c == L::kRandomNormalLike     ? l.proto.random_normal_like()
                    : c == L::kRandomNormalStatic ? l.proto.random_normal_static()
                                                  : l.proto.random_normal_dynamic();
    const int kind = c == L::kRandomNormalLike ? 0 : c == L::kRandomNormalStatic ? 1 : 2;
    args = {{"shape", shape_arg(l, kind, p.output_shape(), "outputShape", &rank)},
            {"mean", lit_float(p.mean())},
            {"stddev", lit_float(p.std_dev())},
            {"seed", lit_int(seed_of(l, p.seed()))}};
    type = "random_normal";
  } else if (c == L::kRandomUniformLike || c == L::kRandomUniformStatic ||
             c == L::kRandomUniformDynamic) {
    const auto& p = c == L::kRandomUniformLike     ? l.proto.random_uniform_like()
                    : c == L::kRandomUniformStatic ? l.proto.random_uniform_static()
                                                   : l.proto.random_uniform_dynamic();
    const int kind = c == L::kRandomUniformLike ? 0 : c == L::kRandomUniformStatic ? 1 : 2;
    args = {{"shape", shape_arg(l, kind, p.output_shape(), "outputShape", &rank)},
            {"low", lit_float(p.min_val())},
            {"high", lit_float(p.max_val())},
            {"seed", lit_int(seed_of(l, p.seed()))}};
    type = "random_uniform";
  } else {
    const auto& p = c == L::kRandomBernoulliLike     ? l.proto.random_bernoulli_like()
                    : c == L::kRandomBernoulliStatic ? l.proto.random_bernoulli_static()
                                                     : l.proto.random_bernoulli_dynamic();
    const int kind = c == L::kRandomBernoulliLike ? 0 : c == L::kRandomBernoulliStatic ? 1 : 2;
    if (!(p.prob() >= 0.0f && p.prob() <= 1.0f))
      l.where.fail("prob ", p.prob(), " is not in [0, 1]");
    args = {{"shape", shape_arg(l, kind, p.output_shape(), "outputShape", &rank)},
            {"prob", lit_float(p.prob())},
            {"seed", lit_int(seed_of(l, p.seed()))}};
    type = "random_bernoulli";
  }
  return {{l.emit.op(type, std::move(args), l.outputs[0]), rank}};
}

std::vector<Blob> band_part(Layer& l, int64_t lower, int64_t upper) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  l.expect_rank_at_least(l.input(), 2);
  return {
      {l.emit.op("band_part",
                 {{"x", var(l.input().name)}, {"lower", lit_int(lower)}, {"upper", lit_int(upper)}},
                 l.outputs[0]),
       l.input().rank}};
}

// where(cond, a, b) with NN truth for cond.
std::vector<Blob> where_broadcastable(Layer& l) {
  l.expect_inputs(3, 3);
  l.expect_outputs(1);
  return {{l.emit.op("select",
                     {{"cond", var(to_bool(l, l.input(0).name))},
                      {"a", var(l.input(1).name)},
                      {"b", var(l.input(2).name)}},
                     l.outputs[0]),
           max_rank(l)}};
}

std::vector<Blob> one_hot(Layer& l) {
  l.expect_outputs(1);
  if (l.inputs.size() == 2) l.where.unsupported("oneHotVectorSize as a second input");
  l.expect_inputs(1, 1);
  const auto& p = l.proto.one_hot();
  const int rank = l.input().rank + 1;
  if (rank > kMaxRank) l.where.fail("output rank ", rank, " exceeds 5");
  const int64_t size = checked_size(p.one_hot_vector_size(), l.where, "oneHotVectorSize");
  if (size < 1) l.where.fail("oneHotVectorSize must be positive");
  return {{l.emit.op("one_hot",
                     {{"indices", var(to_int(l, l.input().name))},
                      {"one_hot_vector_size", lit_int(size)},
                      {"axis", lit_int(axis_of(l, p.axis(), rank))},
                      {"on_value", lit_float(p.on_value())},
                      {"off_value", lit_float(p.off_value())}},
                     l.outputs[0]),
           rank}};
}

std::vector<Blob> cum_sum(Layer& l) {
  l.expect_outputs(1);
  if (l.inputs.size() == 2) l.where.unsupported("the axis as a second input");
  l.expect_inputs(1, 1);
  const auto& p = l.proto.cum_sum();
  const int rank = l.input().rank;
  return {{l.emit.op("cumsum",
                     {{"x", var(l.input().name)},
                      {"axis", lit_int(axis_of(l, p.axis(), rank))},
                      {"exclusive", lit_bool(p.exclude_final_sum())},
                      {"reverse", lit_bool(p.reverse())}},
                     l.outputs[0]),
           rank}};
}

std::vector<Blob> arg_sort(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.arg_sort();
  const int rank = l.input().rank;
  const std::string index = l.emit.op("argsort",
                                      {{"x", var(l.input().name)},
                                       {"axis", lit_int(axis_of(l, p.axis(), rank))},
                                       {"ascending", lit_bool(!p.descending())}},
                                      {}, kI32);
  return {{to_float(l, index, l.outputs[0]), rank}};
}

// sliceBySize: x[..., begin:begin + size, ...] along axis, begin the second input.
std::vector<Blob> slice_by_size(Layer& l) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  const auto& p = l.proto.slice_by_size();
  const int rank = l.input().rank;
  const int64_t axis = axis_of(l, p.axis(), rank);
  if (p.size() < 1 || p.size() > kMaxWeightElements) {
    l.where.fail("size ", p.size(), " must be positive");
  }
  if (l.input(1).rank != 1) l.where.fail("the begin input must have shape [1]");
  std::vector<std::pair<std::string, Arg>> parts;
  const std::string begin_at = to_int(l, l.input(1).name);
  if (axis > 0) parts.push_back({"values", lit_ints(std::vector<int64_t>(axis, 0))});
  parts.push_back({"values", var(begin_at)});
  if (axis + 1 < rank) {
    parts.push_back({"values", lit_ints(std::vector<int64_t>(rank - axis - 1, 0))});
  }
  parts.push_back({"axis", lit_int(0)});
  parts.push_back({"interleave", lit_bool(false)});
  const std::string begin = l.emit.op("concat", std::move(parts), {}, kI32);
  std::vector<int64_t> size(static_cast<size_t>(rank), -1);
  size[static_cast<size_t>(axis)] = p.size();
  return {{l.emit.op("slice_by_size",
                     {{"x", var(l.input().name)}, {"begin", var(begin)}, {"size", lit_ints(size)}},
                     l.outputs[0]),
           rank}};
}

// rankPreservingReshape: a target of the input's rank, 0 keeping the input's dimension and -1
// inferred (MIL reshape's own rules at equal rank).
std::vector<Blob> rank_preserving_reshape(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& target = l.proto.rank_preserving_reshape().target_shape();
  const int rank = l.input().rank;
  if (target.size() != rank)
    l.where.fail("targetShape has ", target.size(), " values for rank ", rank);
  std::vector<int64_t> shape;
  for (int64_t d : target) {
    if (d < -1 || d > kMaxWeightElements) l.where.fail("targetShape value ", d, " is out of range");
    shape.push_back(d);
  }
  if (std::count(shape.begin(), shape.end(), -1) > 1) l.where.fail("targetShape has two -1");
  return {
      {l.emit.op("reshape", {{"x", var(l.input().name)}, {"shape", lit_ints(shape)}}, l.outputs[0]),
       rank}};
}

mil::Value bool_tensor(const google::protobuf::RepeatedField<bool>& v, size_t n) {
  mil::Value out;
  out.type = mil::Type::of_tensor(
      mil::TensorType{kBool, std::vector<mil::Dim>{mil::Dim::of(static_cast<int64_t>(n))}});
  for (size_t i = 0; i < n; ++i) out.bytes.push_back(v[static_cast<int>(i)] ? 1 : 0);
  return out;
}

// sliceDynamic: sliceStatic with beginIds from input 2 and, when present, endIds, strides,
// beginMasks and endMasks from inputs 3 to 6 (a 7th input, squeeze masks, would make the
// output rank a run-time value).
std::vector<Blob> slice_dynamic(Layer& l) {
  l.expect_outputs(1);
  if (l.inputs.size() == 7) l.where.unsupported("squeezeMasks as an input");
  l.expect_inputs(2, 6);
  const auto& p = l.proto.slice_dynamic();
  const int rank = l.input().rank;
  const auto n = static_cast<size_t>(rank);
  for (size_t i = 1; i < l.inputs.size(); ++i) {
    if (l.input(i).rank != 1) l.where.fail("input ", i, " must have rank 1");
  }
  const auto ints = [&](size_t input, const google::protobuf::RepeatedField<int64_t>& v,
                        const char* field) {
    if (l.inputs.size() > input) return var(to_int(l, l.input(input).name));
    if (v.size() != rank) l.where.fail(field, " must have ", rank, " values");
    return lit_ints({v.begin(), v.end()});
  };
  const auto masks = [&](size_t input, const google::protobuf::RepeatedField<bool>& v,
                         const char* field) {
    if (l.inputs.size() > input) return var(to_bool(l, l.input(input).name));
    if (v.size() != rank) l.where.fail(field, " must have ", rank, " values");
    return lit(bool_tensor(v, n));
  };
  if (l.inputs.size() <= 3) {
    for (int64_t s : p.strides()) {
      if (s == 0) l.where.fail("strides must not be 0");
    }
  }
  std::vector<std::pair<std::string, Arg>> args{
      {"x", var(l.input().name)},
      {"begin", var(to_int(l, l.input(1).name))},
      {"end", ints(2, p.end_ids(), "endIds")},
      {"stride", ints(3, p.strides(), "strides")},
      {"begin_mask", masks(4, p.begin_masks(), "beginMasks")},
      {"end_mask", masks(5, p.end_masks(), "endMasks")}};
  int out_rank = rank;
  if (!p.squeeze_masks().empty()) {
    if (p.squeeze_masks().size() != rank) l.where.fail("squeezeMasks must have ", rank, " values");
    out_rank -=
        static_cast<int>(std::count(p.squeeze_masks().begin(), p.squeeze_masks().end(), true));
    args.push_back({"squeeze_mask", lit(bool_tensor(p.squeeze_masks(), n))});
  }
  if (out_rank < 1) l.where.unsupported("squeezing every axis");
  return {{l.emit.op("slice_by_index", std::move(args), l.outputs[0]), out_rank}};
}

std::vector<Blob> dispatch(Layer& l) {
  const auto& p = l.proto;
  switch (p.layer_case()) {
    case L::kEqual: return compare(l, "equal", p.equal().alpha());
    case L::kNotEqual: return compare(l, "not_equal", p.not_equal().alpha());
    case L::kLessThan: return compare(l, "less", p.less_than().alpha());
    case L::kLessEqual: return compare(l, "less_equal", p.less_equal().alpha());
    case L::kGreaterThan: return compare(l, "greater", p.greater_than().alpha());
    case L::kGreaterEqual: return compare(l, "greater_equal", p.greater_equal().alpha());
    case L::kLogicalAnd: return logical(l, "logical_and");
    case L::kLogicalOr: return logical(l, "logical_or");
    case L::kLogicalXor: return logical(l, "logical_xor");
    case L::kLogicalNot: return logical(l, "logical_not");
    case L::kModBroadcastable: return binary(l, "mod");
    case L::kFloorDivBroadcastable: return binary(l, "floor_div");
    case L::kAsinh: return inverse_hyperbolic(l, 1.0f);
    case L::kAcosh: return inverse_hyperbolic(l, -1.0f);
    case L::kGatherNd: return gather_nd(l);
    case L::kScatter: return scatter(l);
    case L::kScatterNd: return scatter_nd(l);
    case L::kGatherAlongAxis: return gather_along_axis(l);
    case L::kScatterAlongAxis: return scatter_along_axis(l);
    case L::kStack: return stack(l);
    case L::kReverse: return reverse(l);
    case L::kReverseSeq: return reverse_seq(l);
    case L::kSlidingWindows: return sliding_windows(l);
    case L::kGetShape: {
      l.expect_inputs(1, 1);
      l.expect_outputs(1);
      const std::string s = l.emit.op("shape", {{"x", var(l.input().name)}}, {}, kI32);
      return {{to_float(l, s, l.outputs[0]), 1}};
    }
    case L::kFillLike: return fill(l, 0);
    case L::kFillStatic: return fill(l, 1);
    case L::kFillDynamic: return fill(l, 2);
    case L::kBroadcastToLike: return broadcast_to(l, 0);
    case L::kBroadcastToStatic: return broadcast_to(l, 1);
    case L::kBroadcastToDynamic: return broadcast_to(l, 2);
    case L::kReshapeLike: return reshape_to(l, true);
    case L::kReshapeDynamic: return reshape_to(l, false);
    case L::kRangeStatic: return range_static(l);
    case L::kRangeDynamic: return range_dynamic(l);
    case L::kRandomNormalLike:
    case L::kRandomNormalStatic:
    case L::kRandomNormalDynamic:
    case L::kRandomUniformLike:
    case L::kRandomUniformStatic:
    case L::kRandomUniformDynamic:
    case L::kRandomBernoulliLike:
    case L::kRandomBernoulliStatic:
    case L::kRandomBernoulliDynamic: return random(l);
    case L::kWhereNonZero: {
      l.expect_inputs(1, 1);
      l.expect_outputs(1);
      const std::string nz = l.emit.op("non_zero", {{"x", var(l.input().name)}}, {}, kI32);
      return {{to_float(l, nz, l.outputs[0]), 2}};
    }
    case L::kMatrixBandPart:
      return band_part(l, p.matrix_band_part().num_lower(), p.matrix_band_part().num_upper());
    case L::kLowerTriangular: {
      // numpy.tril(x, k): keeps column - row <= k; band_part expresses k >= 0 only.
      const int64_t k = p.lower_triangular().k();
      if (k < 0) l.where.unsupported("k ", k, " below the diagonal");
      return band_part(l, -1, k);
    }
    case L::kUpperTriangular: {
      // numpy.triu(x, k): keeps column - row >= k; band_part expresses k <= 0 only.
      const int64_t k = p.upper_triangular().k();
      if (k > 0) l.where.unsupported("k ", k, " above the diagonal");
      return band_part(l, -k, -1);
    }
    case L::kWhereBroadcastable: return where_broadcastable(l);
    case L::kOneHot: return one_hot(l);
    case L::kCumSum: return cum_sum(l);
    case L::kClampedRelu:
      l.expect_inputs(1, 1);
      l.expect_outputs(1);
      return {{l.emit.op("clamped_relu",
                         {{"x", var(l.input().name)},
                          {"alpha", lit_float(p.clamped_relu().alpha())},
                          {"beta", lit_float(p.clamped_relu().beta())}},
                         l.outputs[0]),
               l.input().rank}};
    case L::kArgSort: return arg_sort(l);
    case L::kSliceBySize: return slice_by_size(l);
    case L::kRankPreservingReshape: return rank_preserving_reshape(l);
    case L::kSliceDynamic: return slice_dynamic(l);
    default: break;
  }
  l.where.unsupported("layer type is not supported");
}

}  // namespace
}  // namespace indexing_layers

std::vector<Blob> translate_indexing(Layer& l) { return indexing_layers::dispatch(l); }

}  // namespace coreml::format::nn
