// Layers that move data or reduce it: softmax, concat, split, flatten, reshape, permute and
// their ND forms, squeeze/expandDims, and reduce.
#include <algorithm>
#include <string>

#include "format/neural_network/layers.h"

namespace coreml::format::nn {
namespace {

using L = spec::NeuralNetworkLayer;

Blob single(Layer& l, const std::string& type, std::vector<std::pair<std::string, Arg>> args,
            int rank) {
  args.insert(args.begin(), {"x", var(l.input().name)});
  return {l.emit.op(type, std::move(args), l.outputs[0]), rank};
}

int64_t checked_axis(const Layer& l, int64_t axis, int rank, const char* field) {
  if (axis < -rank || axis >= rank) {
    l.where.fail(field, " ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<Blob> softmax(Layer& l, int64_t axis) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  checked_axis(l, axis, l.input().rank, "axis");
  return {single(l, "softmax", {{"axis", lit_int(axis)}}, l.input().rank)};
}

std::vector<Blob> concat(Layer& l, int64_t axis, bool interleave) {
  l.expect_inputs(1, 1 << 16);
  l.expect_outputs(1);
  const int rank = l.input().rank;
  for (const auto& b : l.inputs) {
    if (b.rank != rank) l.where.fail("inputs have different ranks (", rank, " and ", b.rank, ")");
  }
  checked_axis(l, axis, rank, "axis");
  std::vector<std::pair<std::string, Arg>> args;
  for (const auto& b : l.inputs) args.push_back({"values", var(b.name)});
  args.push_back({"axis", lit_int(axis)});
  args.push_back({"interleave", lit_bool(interleave)});
  return {{l.emit.op("concat", std::move(args), l.outputs[0]), rank}};
}

std::vector<int64_t> zeros_then(int lead, std::vector<int64_t> tail) {
  std::vector<int64_t> shape(static_cast<size_t>(lead), 0);
  shape.insert(shape.end(), tail.begin(), tail.end());
  return shape;
}

// [..., C, H, W] -> [..., H, W, C] (or back, with `to_channel_first`).
std::string channel_last(Layer& l, const std::string& x, int rank, bool to_channel_first) {
  std::vector<int64_t> perm;
  for (int i = 0; i < rank - 3; ++i) perm.push_back(i);
  if (to_channel_first) {
    perm.insert(perm.end(), {rank - 1, rank - 3, rank - 2});
  } else {
    perm.insert(perm.end(), {rank - 2, rank - 1, rank - 3});
  }
  return l.emit.op("transpose", {{"x", var(x)}, {"perm", lit_ints(perm)}});
}

std::vector<Blob> flatten(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const Blob& x = l.input();
  l.expect_rank_at_least(x, 3);
  const int mode = l.proto.flatten().mode();
  if (mode != 0 && mode != 1) l.where.fail("flatten mode ", mode, " is not defined");
  std::string src = x.name;
  if (mode == 1) src = channel_last(l, src, x.rank, false);
  return {{l.emit.op("reshape",
                     {{"x", var(src)}, {"shape", lit_ints(zeros_then(x.rank - 3, {-1, 1, 1}))}},
                     l.outputs[0]),
           x.rank}};
}

// The rank-5 reshape of specification <= 3.
std::vector<Blob> reshape(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const Blob& x = l.input();
  const auto& p = l.proto.reshape();
  if (x.rank != 5) l.where.fail("input must have rank 5, got ", x.rank);
  std::vector<int64_t> target(p.target_shape().begin(), p.target_shape().end());
  for (int64_t d : target) {
    if (d < 1 || d > kMaxWeightElements) l.where.fail("targetShape has an invalid size ", d);
  }
  std::vector<int64_t> shape;
  if (target.size() == 3) {
    shape = {-1, 1, target[0], target[1], target[2]};  // the sequence length is kept
  } else if (target.size() == 4) {
    shape = {target[0], 1, target[1], target[2], target[3]};
  } else {
    l.where.fail("targetShape must have 3 or 4 values, got ", target.size());
  }
  if (p.mode() == 0) {
    return {
        {l.emit.op("reshape", {{"x", var(x.name)}, {"shape", lit_ints(shape)}}, l.outputs[0]), 5}};
  }
  if (p.mode() != 1) l.where.fail("reshape mode ", p.mode(), " is not defined");
  // Channel last: flatten in H, W, C order, fill [Seq, 1, H, W, C], permute to C, H, W.
  const std::string hwc = channel_last(l, x.name, 5, false);
  const std::vector<int64_t> hwc_shape{shape[0], 1, shape[3], shape[4], shape[2]};
  const std::string filled =
      l.emit.op("reshape", {{"x", var(hwc)}, {"shape", lit_ints(hwc_shape)}});
  return {{l.emit.op("transpose", {{"x", var(filled)}, {"perm", lit_ints({0, 1, 4, 2, 3})}},
                     l.outputs[0]),
           5}};
}

std::vector<Blob> permute(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  if (l.input().rank != 5) l.where.fail("input must have rank 5, got ", l.input().rank);
  const auto& axis = l.proto.permute().axis();
  if (axis.empty()) return {single(l, "identity", {}, 5)};
  if (axis.size() != 4) l.where.fail("axis must have 4 values, got ", axis.size());
  // axis permutes [Seq, C, H, W] = rank-5 axes [0, 2, 3, 4]; the batch axis stays.
  static const int64_t kAxes[] = {0, 2, 3, 4};
  std::vector<int64_t> perm(5, 1);
  bool seen[4] = {};
  for (int i = 0; i < 4; ++i) {
    if (axis[i] > 3 || seen[axis[i]]) l.where.fail("axis is not a permutation of [0, 1, 2, 3]");
    seen[axis[i]] = true;
    perm[static_cast<size_t>(kAxes[i])] = kAxes[axis[i]];
  }
  return {single(l, "transpose", {{"perm", lit_ints(perm)}}, 5)};
}

std::vector<Blob> transpose(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const int rank = l.input().rank;
  const auto& axes = l.proto.transpose().axes();
  if (axes.size() != rank) l.where.fail("axes has ", axes.size(), " values for rank ", rank);
  std::vector<int64_t> perm;
  std::vector<bool> seen(static_cast<size_t>(rank));
  for (uint64_t a : axes) {
    if (a >= static_cast<uint64_t>(rank) || seen[a]) l.where.fail("axes is not a permutation");
    seen[a] = true;
    perm.push_back(static_cast<int64_t>(a));
  }
  return {single(l, "transpose", {{"perm", lit_ints(perm)}}, rank)};
}

// Rank of output 0 as the layer declares it (specification >= 4), or -1.
int declared_output_rank(const Layer& l) {
  if (l.proto.output_tensor().empty()) return -1;
  return static_cast<int>(l.proto.output_tensor(0).rank());
}

std::vector<Blob> squeeze(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.squeeze();
  const int rank = l.input().rank;
  if (p.squeeze_all()) {
    const int out_rank = declared_output_rank(l);
    if (out_rank < 0) l.where.unsupported("squeezeAll without a declared output rank");
    return {single(l, "squeeze", {}, out_rank)};
  }
  std::vector<int64_t> axes;
  for (int64_t a : p.axes()) axes.push_back(checked_axis(l, a, rank, "axes"));
  if (axes.empty()) l.where.fail("no axes to squeeze");
  return {single(l, "squeeze", {{"axes", lit_ints(axes)}}, rank - static_cast<int>(axes.size()))};
}

std::vector<Blob> expand_dims(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.expand_dims();
  const int out_rank = l.input().rank + p.axes().size();
  if (p.axes().empty() || out_rank > kMaxRank) l.where.fail("axes must add 1 to 5 - rank axes");
  std::vector<int64_t> axes;
  for (int64_t a : p.axes()) axes.push_back(checked_axis(l, a, out_rank, "axes"));
  return {single(l, "expand_dims", {{"axes", lit_ints(axes)}}, out_rank)};
}

std::vector<Blob> reshape_static(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& t = l.proto.reshape_static().target_shape();
  if (t.empty() || t.size() > kMaxRank) l.where.fail("targetShape must have 1 to 5 values");
  std::vector<int64_t> shape;
  for (int64_t d : t) {
    if (d < -1 || d > kMaxWeightElements) l.where.fail("targetShape has an invalid size ", d);
    shape.push_back(d);
  }
  return {single(l, "reshape", {{"shape", lit_ints(shape)}}, static_cast<int>(shape.size()))};
}

std::vector<Blob> split(Layer& l) {
  l.expect_inputs(1, 1);
  const auto n = checked_size(l.proto.split().n_outputs(), l.where, "nOutputs");
  if (n < 1 || static_cast<size_t>(n) != l.outputs.size()) {
    l.where.fail("nOutputs ", n, " does not match the ", l.outputs.size(), " outputs");
  }
  l.expect_rank_at_least(l.input(), 3);
  const auto names = l.emit.op_n(
      "split", {{"x", var(l.input().name)}, {"num_splits", lit_int(n)}, {"axis", lit_int(-3)}},
      l.outputs);
  std::vector<Blob> out;
  for (const auto& name : names) out.push_back({name, l.input().rank});
  return out;
}

std::vector<Blob> reduce(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.reduce();
  l.expect_rank_at_least(l.input(), 3);
  static const std::vector<int64_t> kAxes[] = {{-3, -2, -1}, {-2, -1}, {-3}, {-2}, {-1}};
  if (p.axis() < 0 || p.axis() > 4) l.where.fail("reduce axis ", p.axis(), " is not defined");
  const auto& axes = kAxes[p.axis()];
  static const char* const kOps[] = {"reduce_sum",     "reduce_mean",       "reduce_prod",
                                     "reduce_log_sum", "reduce_sum_square", "reduce_l1_norm",
                                     "reduce_l2_norm", "reduce_max",        "reduce_min"};
  const int rank = l.input().rank;
  if (p.mode() == 9) {  // argmax, over one axis, as a float index
    if (axes.size() != 1) l.where.unsupported("argmax over more than one axis");
    const std::string index = l.emit.op(
        "reduce_argmax",
        {{"x", var(l.input().name)}, {"axis", lit_int(axes[0])}, {"keep_dims", lit_bool(true)}}, {},
        mil::DataType::kInt32);
    return {{l.emit.op("cast", {{"x", var(index)}, {"dtype", lit_string("fp32")}}, l.outputs[0]),
             rank}};
  }
  if (p.mode() < 0 || p.mode() > 8) l.where.fail("reduce mode ", p.mode(), " is not defined");
  return {
      single(l, kOps[p.mode()], {{"axes", lit_ints(axes)}, {"keep_dims", lit_bool(true)}}, rank)};
}

std::vector<Blob> flatten_to_2d(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const int64_t axis = l.proto.flatten_to_2d().axis();
  if (axis < -l.input().rank || axis > l.input().rank)
    l.where.fail("axis ", axis, " is out of range");
  return {single(l, "flatten2d", {{"axis", lit_int(axis)}}, 2)};
}

// [startIndex, endIndex) with `stride` along channel, height or width.
std::vector<Blob> slice(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.slice();
  if (p.axis() < 0 || p.axis() > 2) l.where.fail("slice axis ", p.axis(), " is not defined");
  const int rank = l.input().rank;
  l.expect_rank_at_least(l.input(), 3 - p.axis());
  const int axis = rank - 3 + p.axis();
  const int64_t stride = p.stride() == 0 ? 1 : checked_size(p.stride(), l.where, "stride");
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), end(static_cast<size_t>(rank), 0),
      strides(static_cast<size_t>(rank), 1);
  std::vector<bool> bm(static_cast<size_t>(rank), true), em(static_cast<size_t>(rank), true);
  begin[static_cast<size_t>(axis)] = p.start_index();
  end[static_cast<size_t>(axis)] = p.end_index();
  strides[static_cast<size_t>(axis)] = stride;
  bm[static_cast<size_t>(axis)] = false;
  em[static_cast<size_t>(axis)] = false;
  const auto bools = [](const std::vector<bool>& v) {
    mil::Value out;
    out.type = mil::Type::of_tensor(mil::TensorType{
        mil::DataType::kBool, std::vector<mil::Dim>{mil::Dim::of(static_cast<int64_t>(v.size()))}});
    for (bool b : v) out.bytes.push_back(b ? 1 : 0);
    return out;
  };
  return {single(l, "slice_by_index",
                 {{"begin", lit_ints(begin)},
                  {"end", lit_ints(end)},
                  {"stride", lit_ints(strides)},
                  {"begin_mask", lit(bools(bm))},
                  {"end_mask", lit(bools(em))}},
                 rank)};
}

}  // namespace

std::vector<Blob> translate_shape(Layer& l) {
  switch (l.proto.layer_case()) {
    case L::kSoftmax:
      l.expect_inputs(1, 1);
      l.expect_rank_at_least(l.input(), 3);
      return softmax(l, -3);
    case L::kSoftmaxNd: return softmax(l, l.proto.softmax_nd().axis());
    case L::kConcat:
      l.expect_inputs(1, 1 << 16);
      l.expect_rank_at_least(l.input(), l.proto.concat().sequence_concat() ? 5 : 3);
      return concat(l, l.proto.concat().sequence_concat() ? -5 : -3, false);
    case L::kConcatNd:
      return concat(l, l.proto.concat_nd().axis(), l.proto.concat_nd().interleave());
    case L::kFlatten: return flatten(l);
    case L::kReshape: return reshape(l);
    case L::kPermute: return permute(l);
    case L::kTranspose: return transpose(l);
    case L::kSqueeze: return squeeze(l);
    case L::kExpandDims: return expand_dims(l);
    case L::kReshapeStatic: return reshape_static(l);
    case L::kSplit: return split(l);
    case L::kReduce: return reduce(l);
    case L::kFlattenTo2D: return flatten_to_2d(l);
    case L::kSlice: return slice(l);
    default: break;
  }
  return translate_nd(l);
}

}  // namespace coreml::format::nn
