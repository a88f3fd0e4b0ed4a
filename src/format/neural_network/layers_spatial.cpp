// Layers over [..., C, H, W]: convolution and deconvolution, pooling, batchnorm, padding,
// upsample, crop, LRN and L2 normalization. Ranks above 4 fold their leading axes into the
// batch, as NeuralNetwork.proto defines.
#include <string>

#include "format/neural_network/layers.h"

namespace coreml::format::nn {
namespace {

using L = spec::NeuralNetworkLayer;

std::vector<int64_t> pair_or(const google::protobuf::RepeatedField<uint64_t>& v, int64_t fallback,
                             const Layer& l, const char* field) {
  if (v.empty()) return {fallback, fallback};
  if (v.size() != 2) l.where.fail(field, " must have 2 values [H, W], got ", v.size());
  return {checked_size(v[0], l.where, field), checked_size(v[1], l.where, field)};
}

// [top, bottom, left, right] of BorderAmounts ([H, W] edge pairs); zeros when absent.
std::vector<int64_t> border(const spec::BorderAmounts& b, const Layer& l, const char* field) {
  if (b.border_amounts().empty()) return {0, 0, 0, 0};
  if (b.border_amounts().size() != 2) {
    l.where.fail(field, " must have 2 entries [H, W], got ", b.border_amounts().size());
  }
  std::vector<int64_t> out;
  for (const auto& e : b.border_amounts()) {
    out.push_back(checked_size(e.start_edge_size(), l.where, field));
    out.push_back(checked_size(e.end_edge_size(), l.where, field));
  }
  return out;
}

std::vector<Blob> convolution(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& c = l.proto.convolution();
  l.expect_rank_at_least(l.input(), 3);
  const int64_t groups = c.n_groups() == 0 ? 1 : checked_size(c.n_groups(), l.where, "nGroups");
  const int64_t out_c = checked_size(c.output_channels(), l.where, "outputChannels");
  const int64_t kernel_c = checked_size(c.kernel_channels(), l.where, "kernelChannels");
  const auto kernel = pair_or(c.kernel_size(), 3, l, "kernelSize");
  const auto stride = pair_or(c.stride(), 1, l, "stride");
  const auto dilation = pair_or(c.dilation_factor(), 1, l, "dilationFactor");
  if (groups < 1 || out_c < 1 || kernel_c < 1 || out_c % groups != 0) {
    l.where.fail("outputChannels ", out_c, ", kernelChannels ", kernel_c, " and nGroups ", groups,
                 " do not describe a convolution");
  }
  const std::vector<int64_t> wshape =
      c.is_deconvolution() ? std::vector<int64_t>{kernel_c, out_c / groups, kernel[0], kernel[1]}
                           : std::vector<int64_t>{out_c, kernel_c, kernel[0], kernel[1]};
  // Deconvolution weights are [C_in, C_out / groups, kh, kw]: their axis 0 is not the output
  // channel that per-channel quantization parameters follow.
  if (c.is_deconvolution() && c.weights().has_quantization() &&
      c.weights().quantization().has_linear_quantization() &&
      c.weights().quantization().linear_quantization().scale().size() > 1) {
    l.where.unsupported("weights: per-channel quantized deconvolution weights");
  }
  const std::string weight = weight_value(l.emit, c.weights(), wshape, l.where, "weights");
  std::vector<std::pair<std::string, Arg>> args{
      {"weight", var(weight)}, {"strides", lit_ints(stride)}, {"groups", lit_int(groups)}};
  if (c.use_bias()) {
    args.push_back(
        {"bias", var(l.emit.constant({out_c}, weights(c.bias(), out_c, l.where, "bias")))});
  }
  if (c.has_same()) {
    if (c.same().asymmetry_mode() != 0 && c.same().asymmetry_mode() != 1) {
      l.where.fail("same.asymmetryMode ", c.same().asymmetry_mode(), " is not defined");
    }
    if (c.same().asymmetry_mode() == 1 && c.is_deconvolution()) {
      l.where.unsupported("TOP_LEFT_HEAVY same padding of a deconvolution");
    }
    args.push_back(
        {"pad_type", lit_string(c.same().asymmetry_mode() == 0 ? "same" : "same_lower")});
  } else {
    args.push_back({"pad_type", lit_string("custom")});
    args.push_back({"pad", lit_ints(border(c.valid().padding_amounts(), l, "valid"))});
  }
  if (c.is_deconvolution()) {
    if (!c.output_shape().empty()) {
      const auto shape = pair_or(c.output_shape(), 0, l, "outputShape");
      args.push_back({"output_shape", lit_ints(shape)});
      // The output shape overrides the padding type.
      for (auto& [param, arg] : args) {
        if (param == "pad_type") arg = lit_string("valid");
        if (param == "pad") arg = lit_ints({0, 0, 0, 0});
      }
    }
    args.push_back({"dilations", lit_ints({1, 1})});
  } else {
    args.push_back({"dilations", lit_ints(dilation)});
  }
  const std::string type = c.is_deconvolution() ? "conv_transpose" : "conv";
  return {with_rank(l, l.input(), 4, l.outputs[0], [&](const std::string& x, const std::string& o) {
    auto all = args;
    all.insert(all.begin(), {"x", var(x)});
    return l.emit.op(type, std::move(all), o);
  })};
}

std::vector<Blob> pooling(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.pooling();
  l.expect_rank_at_least(l.input(), 3);
  if (p.type() < 0 || p.type() > 2) l.where.fail("pooling type ", p.type(), " is not defined");
  if (p.global_pooling()) {
    static const char* const kReduce[] = {"reduce_max", "reduce_mean", "reduce_l2_norm"};
    return {{l.emit.op(kReduce[p.type()],
                       {{"x", var(l.input().name)},
                        {"axes", lit_ints({-2, -1})},
                        {"keep_dims", lit_bool(true)}},
                       l.outputs[0]),
             l.input().rank}};
  }
  static const char* const kPool[] = {"max_pool", "avg_pool", "l2_pool"};
  std::vector<std::pair<std::string, Arg>> args{
      {"kernel_sizes", lit_ints(pair_or(p.kernel_size(), 3, l, "kernelSize"))},
      {"strides", lit_ints(pair_or(p.stride(), 1, l, "stride"))}};
  bool ceil_mode = false;
  if (p.has_same()) {
    args.push_back(
        {"pad_type", lit_string(p.same().asymmetry_mode() == 1 ? "same_lower" : "same")});
  } else if (p.has_include_last_pixel()) {
    const auto pad = pair_or(p.include_last_pixel().padding_amounts(), 0, l, "paddingAmounts");
    args.push_back({"pad_type", lit_string("custom")});
    args.push_back({"pad", lit_ints({pad[0], pad[0], pad[1], pad[1]})});
    ceil_mode = true;
  } else {
    args.push_back({"pad_type", lit_string("custom")});
    args.push_back({"pad", lit_ints(border(p.valid().padding_amounts(), l, "valid"))});
  }
  args.push_back({"ceil_mode", lit_bool(ceil_mode)});
  if (p.type() == 1) {
    args.push_back({"exclude_padding_from_average", lit_bool(p.avg_pool_exclude_padding())});
  }
  return {with_rank(l, l.input(), 4, l.outputs[0], [&](const std::string& x, const std::string& o) {
    auto all = args;
    all.insert(all.begin(), {"x", var(x)});
    return l.emit.op(kPool[p.type()], std::move(all), o);
  })};
}

std::vector<Blob> batchnorm(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& b = l.proto.batchnorm();
  l.expect_rank_at_least(l.input(), 3);
  const int64_t c = checked_size(b.channels(), l.where, "channels");
  const float eps = b.epsilon() == 0 ? 1e-5f : b.epsilon();
  const std::string gamma = l.emit.constant({c}, weights(b.gamma(), c, l.where, "gamma"));
  const std::string beta = l.emit.constant({c}, weights(b.beta(), c, l.where, "beta"));
  if (b.compute_mean_var()) {
    if (!b.instance_normalization()) {
      l.where.unsupported("computeMeanVar over the whole batch (only instanceNormalization)");
    }
    return {
        with_rank(l, l.input(), 4, l.outputs[0], [&](const std::string& x, const std::string& o) {
          return l.emit.op("instance_norm",
                           {{"x", var(x)},
                            {"gamma", var(gamma)},
                            {"beta", var(beta)},
                            {"epsilon", lit_float(eps)}},
                           o);
        })};
  }
  const std::string mean = l.emit.constant({c}, weights(b.mean(), c, l.where, "mean"));
  const std::string variance = l.emit.constant({c}, weights(b.variance(), c, l.where, "variance"));
  return {with_rank(l, l.input(), 4, l.outputs[0], [&](const std::string& x, const std::string& o) {
    return l.emit.op("batch_norm",
                     {{"x", var(x)},
                      {"mean", var(mean)},
                      {"variance", var(variance)},
                      {"gamma", var(gamma)},
                      {"beta", var(beta)},
                      {"epsilon", lit_float(eps)}},
                     o);
  })};
}

std::vector<Blob> padding(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.padding();
  l.expect_rank_at_least(l.input(), 2);
  const auto pad = border(p.padding_amounts(), l, "paddingAmounts");
  std::string mode = "constant";
  if (p.has_reflection()) mode = "reflect";
  if (p.has_replication()) mode = "replicate";
  return {{l.emit.op("pad",
                     {{"x", var(l.input().name)},
                      {"pad", lit_ints(pad)},
                      {"mode", lit_string(mode)},
                      {"constant_val", lit_float(p.constant().value())}},
                     l.outputs[0]),
           l.input().rank}};
}

std::vector<Blob> upsample(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& u = l.proto.upsample();
  l.expect_rank_at_least(l.input(), 3);
  double sh = 1, sw = 1;
  if (!u.fractional_scaling_factor().empty()) {
    if (u.fractional_scaling_factor().size() != 2) {
      l.where.fail("fractionalScalingFactor must have 2 values");
    }
    sh = u.fractional_scaling_factor(0);
    sw = u.fractional_scaling_factor(1);
  } else {
    const auto s = pair_or(u.scaling_factor(), 1, l, "scalingFactor");
    sh = static_cast<double>(s[0]);
    sw = static_cast<double>(s[1]);
  }
  if (!(sh > 0 && sw > 0 && sh <= 1 << 16 && sw <= 1 << 16)) {
    l.where.fail("scaling factors must be positive, got ", sh, " and ", sw);
  }
  std::vector<std::pair<std::string, Arg>> args{{"scale_factor_height", lit_float(sh)},
                                                {"scale_factor_width", lit_float(sw)}};
  std::string type = "upsample_nearest_neighbor";
  if (u.mode() == 1) {
    type = "upsample_bilinear";
    // DEFAULT (0) and ALIGN_CORNERS_TRUE (1) align corners; ALIGN_CORNERS_FALSE (2) samples
    // at half-pixel centers.
    args.push_back({"align_corners", lit_bool(u.linear_upsample_mode() != 2)});
  } else if (u.mode() != 0) {
    l.where.fail("upsample mode ", u.mode(), " is not defined");
  }
  return {with_rank(l, l.input(), 4, l.outputs[0], [&](const std::string& x, const std::string& o) {
    auto all = args;
    all.insert(all.begin(), {"x", var(x)});
    return l.emit.op(type, std::move(all), o);
  })};
}

std::vector<Blob> crop(Layer& l) {
  l.expect_inputs(1, 2);
  l.expect_outputs(1);
  const auto& c = l.proto.crop();
  l.expect_rank_at_least(l.input(), 3);
  if (l.inputs.size() == 1) {
    const auto b = border(c.crop_amounts(), l, "cropAmounts");
    return {{l.emit.op("crop",
                       {{"x", var(l.input().name)},
                        {"crop_height", lit_ints({b[0], b[1]})},
                        {"crop_width", lit_ints({b[2], b[3]})}},
                       l.outputs[0]),
             l.input().rank}};
  }
  // Two inputs: crop the first to the H, W of the second, starting at `offset` [H, W].
  const auto offset = pair_or(c.offset(), 0, l, "offset");
  const auto i32 = mil::DataType::kInt32;
  const std::string like_shape = l.emit.op("shape", {{"x", var(l.input(1).name)}}, {}, i32);
  const std::string hw = l.emit.op("slice_by_index",
                                   {{"x", var(like_shape)},
                                    {"begin", lit_ints({l.input(1).rank - 2})},
                                    {"end", lit_ints({l.input(1).rank})}},
                                   {}, i32);
  std::vector<int64_t> begin(static_cast<size_t>(l.input().rank), 0);
  begin[begin.size() - 2] = offset[0];
  begin[begin.size() - 1] = offset[1];
  std::vector<int64_t> lead(static_cast<size_t>(l.input().rank - 2), -1);
  const std::string size = l.emit.op("concat",
                                     {{"values", lit_ints(lead)},
                                      {"values", var(hw)},
                                      {"axis", lit_int(0)},
                                      {"interleave", lit_bool(false)}},
                                     {}, i32);
  return {{l.emit.op("slice_by_size",
                     {{"x", var(l.input().name)}, {"begin", lit_ints(begin)}, {"size", var(size)}},
                     l.outputs[0]),
           l.input().rank}};
}

std::vector<Blob> lrn(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.lrn();
  l.expect_rank_at_least(l.input(), 3);
  const int64_t size = checked_size(p.local_size(), l.where, "localSize");
  return {with_rank(l, l.input(), 4, l.outputs[0], [&](const std::string& x, const std::string& o) {
    return l.emit.op("local_response_norm",
                     {{"x", var(x)},
                      {"size", lit_int(size)},
                      {"alpha", lit_float(p.alpha())},
                      {"beta", lit_float(p.beta())},
                      {"k", lit_float(p.k() == 0 ? 1.0f : p.k())}},
                     o);
  })};
}

std::vector<Blob> l2normalize(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  l.expect_rank_at_least(l.input(), 3);
  // x / sqrt(sum(x^2) + epsilon), the sum over C, H and W together (the last three axes).
  const float eps = l.proto.l2normalize().epsilon() == 0 ? 1e-6f : l.proto.l2normalize().epsilon();
  const Arg x = var(l.input().name);
  const std::string sq =
      l.emit.op("reduce_sum_square",
                {{"x", x}, {"axes", lit_ints({-3, -2, -1})}, {"keep_dims", lit_bool(true)}});
  const std::string shifted = l.emit.op("add", {{"x", var(sq)}, {"y", lit_float(eps)}});
  const std::string inv = l.emit.op("rsqrt", {{"x", var(shifted)}});
  return {{l.emit.op("mul", {{"x", x}, {"y", var(inv)}}, l.outputs[0]), l.input().rank}};
}

}  // namespace

std::vector<Blob> translate_spatial(Layer& l) {
  switch (l.proto.layer_case()) {
    case L::kConvolution: return convolution(l);
    case L::kPooling: return pooling(l);
    case L::kBatchnorm: return batchnorm(l);
    case L::kPadding: return padding(l);
    case L::kUpsample: return upsample(l);
    case L::kCrop: return crop(l);
    case L::kLrn: return lrn(l);
    case L::kL2Normalize: return l2normalize(l);
    default: break;
  }
  l.where.unsupported("not a spatial layer");
}

}  // namespace coreml::format::nn
