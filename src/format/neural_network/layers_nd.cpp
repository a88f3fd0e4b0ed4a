// The ND layers of specification 4 that converters emit beyond reshapes: unary functions,
// broadcasting binary ops, reductions over any axes, slicing, splitting, gather, arg max/min,
// top-k, tiling, constant padding, batched matmul, embeddingND, layer normalization, and the
// image-shaped resizeBilinear and reorganizeData.
#include <algorithm>
#include <string>

#include "format/neural_network/layers.h"

namespace coreml::format::nn {
namespace {

using L = spec::NeuralNetworkLayer;

Blob unary(Layer& l, const std::string& type, std::vector<std::pair<std::string, Arg>> args = {}) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  args.insert(args.begin(), {"x", var(l.input().name)});
  return {l.emit.op(type, std::move(args), l.outputs[0]), l.input().rank};
}

Blob binary(Layer& l, const std::string& type) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  return {l.emit.op(type, {{"x", var(l.input(0).name)}, {"y", var(l.input(1).name)}}, l.outputs[0]),
          std::max(l.input(0).rank, l.input(1).rank)};
}

int64_t axis_in(const Layer& l, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) l.where.fail("axis ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

// NN carries indices as floats; MIL's gather and friends take integers.
std::string as_indices(Layer& l, const std::string& x) {
  return l.emit.op("cast", {{"x", var(x)}, {"dtype", lit_string("int32")}}, {},
                   mil::DataType::kInt32);
}

std::string as_float(Layer& l, const std::string& x, const std::string& out) {
  return l.emit.op("cast", {{"x", var(x)}, {"dtype", lit_string("fp32")}}, out);
}

std::vector<Blob> reduce_nd(Layer& l, const spec::ReduceNDLayerParams& p, const char* type) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const int rank = l.input().rank;
  std::vector<int64_t> axes;
  if (p.reduce_all()) {
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  } else {
    for (int64_t a : p.axes()) axes.push_back(axis_in(l, a, rank));
    std::sort(axes.begin(), axes.end());
    if (axes.empty() || std::adjacent_find(axes.begin(), axes.end()) != axes.end()) {
      l.where.fail("axes must be distinct and not empty");
    }
  }
  const int out_rank = p.keep_dims() ? rank : rank - static_cast<int>(axes.size());
  if (out_rank >= 1) {
    return {{l.emit.op(type,
                       {{"x", var(l.input().name)},
                        {"axes", lit_ints(axes)},
                        {"keep_dims", lit_bool(p.keep_dims())}},
                       l.outputs[0]),
             out_rank}};
  }
  // Everything reduced away: NN keeps a rank-1 tensor of one value.
  const std::string y = l.emit.op(
      type, {{"x", var(l.input().name)}, {"axes", lit_ints(axes)}, {"keep_dims", lit_bool(false)}});
  return {{l.emit.op("reshape", {{"x", var(y)}, {"shape", lit_ints({1})}}, l.outputs[0]), 1}};
}

mil::Value bools(const google::protobuf::RepeatedField<bool>& v, size_t n) {
  mil::Value out;
  out.type = mil::Type::of_tensor(mil::TensorType{
      mil::DataType::kBool, std::vector<mil::Dim>{mil::Dim::of(static_cast<int64_t>(n))}});
  for (size_t i = 0; i < n; ++i) out.bytes.push_back(v[static_cast<int>(i)] ? 1 : 0);
  return out;
}

std::vector<Blob> slice_static(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.slice_static();
  const int rank = l.input().rank;
  const auto n = static_cast<size_t>(rank);
  if (p.begin_ids().size() != rank || p.end_ids().size() != rank || p.strides().size() != rank ||
      p.begin_masks().size() != rank || p.end_masks().size() != rank) {
    l.where.fail("beginIds, endIds, strides, beginMasks and endMasks must have ", rank,
                 " values each");
  }
  std::vector<std::pair<std::string, Arg>> args{
      {"x", var(l.input().name)},
      {"begin", lit_ints({p.begin_ids().begin(), p.begin_ids().end()})},
      {"end", lit_ints({p.end_ids().begin(), p.end_ids().end()})},
      {"stride", lit_ints({p.strides().begin(), p.strides().end()})},
      {"begin_mask", lit(bools(p.begin_masks(), n))},
      {"end_mask", lit(bools(p.end_masks(), n))}};
  int out_rank = rank;
  if (!p.squeeze_masks().empty()) {
    if (p.squeeze_masks().size() != rank) l.where.fail("squeezeMasks must have ", rank, " values");
    out_rank -=
        static_cast<int>(std::count(p.squeeze_masks().begin(), p.squeeze_masks().end(), true));
    args.push_back({"squeeze_mask", lit(bools(p.squeeze_masks(), n))});
  }
  if (out_rank < 1) l.where.unsupported("squeezing every axis");
  for (int64_t s : p.strides()) {
    if (s == 0) l.where.fail("strides must not be 0");
  }
  return {{l.emit.op("slice_by_index", std::move(args), l.outputs[0]), out_rank}};
}

std::vector<Blob> split_nd(Layer& l) {
  l.expect_inputs(1, 1);
  const auto& p = l.proto.split_nd();
  const int64_t axis = axis_in(l, p.axis(), l.input().rank);
  std::vector<std::pair<std::string, Arg>> args{{"x", var(l.input().name)},
                                                {"axis", lit_int(axis)}};
  if (!p.split_sizes().empty()) {
    std::vector<int64_t> sizes;
    for (uint64_t s : p.split_sizes()) sizes.push_back(checked_size(s, l.where, "splitSizes"));
    if (sizes.size() != l.outputs.size()) l.where.fail("splitSizes does not match the outputs");
    args.push_back({"split_sizes", lit_ints(sizes)});
  } else {
    const int64_t n = checked_size(p.num_splits(), l.where, "numSplits");
    if (n < 1 || static_cast<size_t>(n) != l.outputs.size()) {
      l.where.fail("numSplits ", n, " does not match the ", l.outputs.size(), " outputs");
    }
    args.push_back({"num_splits", lit_int(n)});
  }
  std::vector<Blob> out;
  for (const auto& name : l.emit.op_n("split", std::move(args), l.outputs)) {
    out.push_back({name, l.input().rank});
  }
  return out;
}

std::vector<Blob> gather(Layer& l) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  const int64_t axis = axis_in(l, l.proto.gather().axis(), l.input(0).rank);
  const int out_rank = l.input(0).rank - 1 + l.input(1).rank;
  if (out_rank > kMaxRank) l.where.fail("output rank ", out_rank, " exceeds 5");
  return {{l.emit.op("gather",
                     {{"x", var(l.input(0).name)},
                      {"indices", var(as_indices(l, l.input(1).name))},
                      {"axis", lit_int(axis)}},
                     l.outputs[0]),
           out_rank}};
}

std::vector<Blob> arg_reduce(Layer& l, const spec::ArgLayerParams& p, const char* type) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const int rank = l.input().rank;
  const int64_t axis = axis_in(l, p.axis(), rank);
  const bool drop = p.remove_dim() && rank > 1;
  const std::string index = l.emit.op(
      type, {{"x", var(l.input().name)}, {"axis", lit_int(axis)}, {"keep_dims", lit_bool(!drop)}},
      {}, mil::DataType::kInt32);
  return {{as_float(l, index, l.outputs[0]), drop ? rank - 1 : rank}};
}

std::vector<Blob> top_k(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(2);
  const auto& p = l.proto.top_k();
  const int rank = l.input().rank;
  const int64_t k = checked_size(p.k(), l.where, "K");
  const auto outs =
      l.emit.op_n("topk",
                  {{"x", var(l.input().name)},
                   {"k", lit_int(k)},
                   {"axis", lit_int(axis_in(l, p.axis(), rank))},
                   {"ascending", lit_bool(p.use_bottom_k())}},
                  {l.outputs[0], ""}, {mil::DataType::kFloat32, mil::DataType::kInt32});
  return {{outs[0], rank}, {as_float(l, outs[1], l.outputs[1]), rank}};
}

std::vector<Blob> tile(Layer& l) {
  const auto& reps = l.proto.tile().reps();
  if (reps.size() != l.input().rank) {
    l.where.fail("reps has ", reps.size(), " values for rank ", l.input().rank);
  }
  std::vector<int64_t> r;
  for (uint64_t v : reps) r.push_back(checked_size(v, l.where, "reps"));
  return {unary(l, "tile", {{"reps", lit_ints(r)}})};
}

std::vector<Blob> constant_pad(Layer& l) {
  const auto& p = l.proto.constant_pad();
  if (p.pad_to_given_output_size_mode()) l.where.unsupported("padToGivenOutputSizeMode");
  if (p.pad_amounts().empty() || p.pad_amounts().size() % 2 != 0 ||
      p.pad_amounts().size() > 2 * l.input().rank) {
    l.where.fail("padAmounts must hold a (begin, end) pair per padded axis");
  }
  std::vector<int64_t> pad;
  for (uint64_t v : p.pad_amounts()) pad.push_back(checked_size(v, l.where, "padAmounts"));
  return {unary(l, "pad",
                {{"pad", lit_ints(pad)},
                 {"mode", lit_string("constant")},
                 {"constant_val", lit_float(p.value())}})};
}

std::vector<Blob> batched_matmul(Layer& l) {
  const auto& p = l.proto.batched_matmul();
  l.expect_outputs(1);
  if (l.inputs.size() == 2) {
    return {{l.emit.op("matmul",
                       {{"x", var(l.input(0).name)},
                        {"y", var(l.input(1).name)},
                        {"transpose_x", lit_bool(p.transpose_a())},
                        {"transpose_y", lit_bool(p.transpose_b())}},
                       l.outputs[0]),
             std::max(l.input(0).rank, l.input(1).rank)}};
  }
  l.expect_inputs(1, 1);
  if (p.transpose_a()) l.where.unsupported("transposeA with a constant weight matrix");
  if (p.int8_dynamic_quantize()) l.where.unsupported("int8DynamicQuantize");
  const int64_t rows =
      checked_size(p.weight_matrix_first_dimension(), l.where, "weightMatrixFirstDimension");
  const int64_t cols =
      checked_size(p.weight_matrix_second_dimension(), l.where, "weightMatrixSecondDimension");
  checked_product({rows, cols}, l.where, "weights");
  // x [..., rows] times the [rows, cols] matrix, which the layer stores transposed
  // ([cols, rows], as coremltools writes it): exactly linear's weight.
  const std::string wt = weight_value(l.emit, p.weights(), {cols, rows}, l.where, "weights");
  std::vector<std::pair<std::string, Arg>> args{{"x", var(l.input().name)}, {"weight", var(wt)}};
  if (p.use_bias()) {
    args.push_back(
        {"bias", var(l.emit.constant({cols}, weights(p.bias(), cols, l.where, "bias")))});
  }
  return {{l.emit.op("linear", std::move(args), l.outputs[0]), l.input().rank}};
}

std::vector<Blob> embedding_nd(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.embedding_nd();
  const int rank = l.input().rank;
  if (rank < 2) l.where.fail("input must have rank 2 or more, the last axis of size 1");
  const int64_t vocab = checked_size(p.vocab_size(), l.where, "vocabSize");
  const int64_t size = checked_size(p.embedding_size(), l.where, "embeddingSize");
  const auto w =
      weights(p.weights(), checked_product({vocab, size}, l.where, "weights"), l.where, "weights");
  // Stored [embeddingSize, vocabSize]; a row per token for gather.
  std::vector<float> table(w.size());
  for (int64_t e = 0; e < size; ++e) {
    for (int64_t v = 0; v < vocab; ++v) {
      table[static_cast<size_t>(v * size + e)] = w[static_cast<size_t>(e * vocab + v)];
    }
  }
  const std::string ids =
      l.emit.op("squeeze", {{"x", var(l.input().name)}, {"axes", lit_ints({-1})}});
  const std::string rows = l.emit.op("gather",
                                     {{"x", var(l.emit.constant({vocab, size}, table))},
                                      {"indices", var(as_indices(l, ids))},
                                      {"axis", lit_int(0)}},
                                     p.use_bias() ? std::string() : l.outputs[0]);
  if (!p.use_bias()) return {{rows, rank}};
  const std::string b = l.emit.constant({size}, weights(p.bias(), size, l.where, "bias"));
  return {{l.emit.op("add", {{"x", var(rows)}, {"y", var(b)}}, l.outputs[0]), rank}};
}

std::vector<Blob> layer_normalization(Layer& l) {
  const auto& p = l.proto.layer_normalization();
  const int k = p.normalized_shape().size();
  if (k < 1 || k > l.input().rank) l.where.fail("normalizedShape must cover 1 to rank axes");
  std::vector<int64_t> shape, axes;
  int64_t count = 1;
  for (int i = 0; i < k; ++i) {
    const int64_t d = p.normalized_shape(i);
    if (d < 1) l.where.fail("normalizedShape has an invalid size ", d);
    shape.push_back(d);
    count = checked_product({count, d}, l.where, "normalizedShape");
    axes.push_back(i - k);
  }
  return {
      unary(l, "layer_norm",
            {{"axes", lit_ints(axes)},
             {"gamma", var(l.emit.constant(shape, weights(p.gamma(), count, l.where, "gamma")))},
             {"beta", var(l.emit.constant(shape, weights(p.beta(), count, l.where, "beta")))},
             {"epsilon", lit_float(p.eps())}})};
}

std::vector<Blob> resize_bilinear(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.resize_bilinear();
  l.expect_rank_at_least(l.input(), 3);
  std::vector<int64_t> size{1, 1};
  if (!p.target_size().empty()) {
    if (p.target_size().size() != 2) l.where.fail("targetSize must have 2 values [H, W]");
    size = {checked_size(p.target_size(0), l.where, "targetSize"),
            checked_size(p.target_size(1), l.where, "targetSize")};
  }
  static const char* const kModes[] = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT",
                                       "OFFSET_CORNERS"};
  const int method = p.mode().sampling_method();
  if (method < 0 || method > 3) l.where.fail("sampling method ", method, " is not defined");
  return {with_rank(l, l.input(), 4, l.outputs[0], [&](const std::string& x, const std::string& o) {
    return l.emit.op("resize_bilinear",
                     {{"x", var(x)},
                      {"target_size_height", lit_int(size[0])},
                      {"target_size_width", lit_int(size[1])},
                      {"sampling_mode", lit_string(kModes[method])}},
                     o);
  })};
}

std::vector<Blob> reorganize_data(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.reorganize_data();
  l.expect_rank_at_least(l.input(), 3);
  const int64_t block = checked_size(p.block_size(), l.where, "blockSize");
  if (block < 2) l.where.fail("blockSize must be greater than 1");
  static const char* const kOps[] = {"space_to_depth", "depth_to_space", "pixel_shuffle"};
  if (p.mode() < 0 || p.mode() > 2) l.where.fail("mode ", p.mode(), " is not defined");
  const char* param = p.mode() == 2 ? "upscale_factor" : "block_size";
  return {with_rank(l, l.input(), 4, l.outputs[0], [&](const std::string& x, const std::string& o) {
    return l.emit.op(kOps[p.mode()], {{"x", var(x)}, {param, lit_int(block)}}, o);
  })};
}

}  // namespace

std::vector<Blob> translate_nd(Layer& l) {
  static const char* const kGelu[] = {"EXACT", "TANH_APPROXIMATION", "SIGMOID_APPROXIMATION"};
  switch (l.proto.layer_case()) {
    case L::kCeil: return {unary(l, "ceil")};
    case L::kFloor: return {unary(l, "floor")};
    case L::kSign: return {unary(l, "sign")};
    case L::kRound: return {unary(l, "round")};
    case L::kExp2: return {unary(l, "exp2")};
    case L::kSin: return {unary(l, "sin")};
    case L::kCos: return {unary(l, "cos")};
    case L::kTan: return {unary(l, "tan")};
    case L::kAsin: return {unary(l, "asin")};
    case L::kAcos: return {unary(l, "acos")};
    case L::kAtan: return {unary(l, "atan")};
    case L::kSinh: return {unary(l, "sinh")};
    case L::kCosh: return {unary(l, "cosh")};
    case L::kTanh: return {unary(l, "tanh")};
    case L::kAtanh: return {unary(l, "atanh")};
    case L::kErf: return {unary(l, "erf")};
    case L::kGelu:
      if (l.proto.gelu().mode() < 0 || l.proto.gelu().mode() > 2) {
        l.where.fail("gelu mode ", l.proto.gelu().mode(), " is not defined");
      }
      return {unary(l, "gelu", {{"mode", lit_string(kGelu[l.proto.gelu().mode()])}})};
    case L::kMinBroadcastable: return {binary(l, "minimum")};
    case L::kMaxBroadcastable: return {binary(l, "maximum")};
    case L::kPowBroadcastable: return {binary(l, "pow")};
    case L::kDivideBroadcastable: return {binary(l, "real_div")};
    case L::kReduceL1: return reduce_nd(l, l.proto.reduce_l1(), "reduce_l1_norm");
    case L::kReduceL2: return reduce_nd(l, l.proto.reduce_l2(), "reduce_l2_norm");
    case L::kReduceMax: return reduce_nd(l, l.proto.reduce_max(), "reduce_max");
    case L::kReduceMin: return reduce_nd(l, l.proto.reduce_min(), "reduce_min");
    case L::kReduceSum: return reduce_nd(l, l.proto.reduce_sum(), "reduce_sum");
    case L::kReduceProd: return reduce_nd(l, l.proto.reduce_prod(), "reduce_prod");
    case L::kReduceMean: return reduce_nd(l, l.proto.reduce_mean(), "reduce_mean");
    case L::kReduceLogSum: return reduce_nd(l, l.proto.reduce_log_sum(), "reduce_log_sum");
    case L::kReduceSumSquare: return reduce_nd(l, l.proto.reduce_sum_square(), "reduce_sum_square");
    case L::kReduceLogSumExp:
      return reduce_nd(l, l.proto.reduce_log_sum_exp(), "reduce_log_sum_exp");
    case L::kSliceStatic: return slice_static(l);
    case L::kSplitNd: return split_nd(l);
    case L::kGather: return gather(l);
    case L::kArgMax: return arg_reduce(l, l.proto.arg_max(), "reduce_argmax");
    case L::kArgMin: return arg_reduce(l, l.proto.arg_min(), "reduce_argmin");
    case L::kTopK: return top_k(l);
    case L::kTile: l.expect_inputs(1, 1); return tile(l);
    case L::kConstantPad: l.expect_inputs(1, 1); return constant_pad(l);
    case L::kBatchedMatmul: return batched_matmul(l);
    case L::kEmbeddingNd: return embedding_nd(l);
    case L::kLayerNormalization: l.expect_inputs(1, 1); return layer_normalization(l);
    case L::kResizeBilinear: return resize_bilinear(l);
    case L::kReorganizeData: return reorganize_data(l);
    default: break;
  }
  l.where.unsupported("layer type is not supported");
}

}  // namespace coreml::format::nn
