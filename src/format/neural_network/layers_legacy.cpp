// Layers of the first specifications that the earlier families leave out: mean-variance
// normalization (mvn), the rank-4/5 embedding, dot product, sequenceRepeat, copy and
// cropResize. Semantics are NeuralNetwork.proto's.
#include <string>

#include "format/neural_network/layers.h"

namespace coreml::format::nn {
namespace legacy_layers {
namespace {

using L = spec::NeuralNetworkLayer;

// MeanVarianceNormalize: over the last three axes (acrossChannels) or the last two, subtract
// the mean and, with normalizeVariance, divide by sqrt(variance + epsilon) (epsilon 0 means
// 1e-6). coremltools lowers MIL's layer_norm (whose formula this is) to this layer.
std::vector<Blob> mvn(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.mvn();
  l.expect_rank_at_least(l.input(), 3);
  const std::vector<int64_t> axes =
      p.across_channels() ? std::vector<int64_t>{-3, -2, -1} : std::vector<int64_t>{-2, -1};
  const double epsilon = p.epsilon() == 0.0f ? 1e-6 : static_cast<double>(p.epsilon());
  if (!(epsilon > 0.0)) l.where.fail("epsilon ", p.epsilon(), " must be positive");
  const auto mean = [&](const std::string& x) {
    return l.emit.op("reduce_mean",
                     {{"x", var(x)}, {"axes", lit_ints(axes)}, {"keep_dims", lit_bool(true)}});
  };
  const std::string x = l.input().name;
  if (!p.normalize_variance()) {
    return {{l.emit.op("sub", {{"x", var(x)}, {"y", var(mean(x))}}, l.outputs[0]), l.input().rank}};
  }
  const std::string centered = l.emit.op("sub", {{"x", var(x)}, {"y", var(mean(x))}});
  const std::string variance = mean(l.emit.op("mul", {{"x", var(centered)}, {"y", var(centered)}}));
  const std::string inv_std =
      l.emit.op("rsqrt", {{"x", var(variance)}, {"epsilon", lit_float(epsilon)}});
  return {{l.emit.op("mul", {{"x", var(centered)}, {"y", var(inv_std)}}, l.outputs[0]),
           l.input().rank}};
}

// Embedding: input [x1, 1, 1, 1] or [x1, x2, 1, 1, 1] of token ids in [0, inputDim), output
// [x1, C, 1, 1] or [x1, x2, C, 1, 1]; weights [outputChannels, inputDim].
std::vector<Blob> embedding(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  const auto& p = l.proto.embedding();
  const int rank = l.input().rank;
  if (rank != 4 && rank != 5) l.where.fail("input must have rank 4 or 5, got rank ", rank);
  const int64_t vocab = checked_size(p.input_dim(), l.where, "inputDim");
  const int64_t channels = checked_size(p.output_channels(), l.where, "outputChannels");
  if (vocab < 1 || channels < 1) l.where.fail("inputDim and outputChannels must be positive");
  const auto w = weights(p.weights(), checked_product({vocab, channels}, l.where, "weights"),
                         l.where, "weights");
  std::vector<float> table(w.size());  // [inputDim, outputChannels]: a row per token
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t v = 0; v < vocab; ++v) {
      table[static_cast<size_t>(v * channels + c)] = w[static_cast<size_t>(c * vocab + v)];
    }
  }
  const std::string ids =
      l.emit.op("squeeze", {{"x", var(l.input().name)}, {"axes", lit_ints({-3, -2, -1})}});
  const std::string index = l.emit.op("cast", {{"x", var(ids)}, {"dtype", lit_string("int32")}}, {},
                                      mil::DataType::kInt32);
  std::string rows = l.emit.op("gather", {{"x", var(l.emit.constant({vocab, channels}, table))},
                                          {"indices", var(index)},
                                          {"axis", lit_int(0)}});
  if (p.use_bias()) {
    const std::string b = l.emit.constant({channels}, weights(p.bias(), channels, l.where, "bias"));
    rows = l.emit.op("add", {{"x", var(rows)}, {"y", var(b)}});
  }
  return {{l.emit.op("expand_dims", {{"x", var(rows)}, {"axes", lit_ints({-2, -1})}}, l.outputs[0]),
           rank}};
}

// DotProduct: inputs [..., C, 1, 1]; output [..., 1, 1, 1] = sum over C of x1 * x2, of the
// L2-normalized inputs with cosineSimilarity.
std::vector<Blob> dot(Layer& l) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  l.expect_rank_at_least(l.input(0), 3);
  l.expect_rank_at_least(l.input(1), 3);
  std::string a = l.input(0).name;
  std::string b = l.input(1).name;
  if (l.proto.dot().cosine_similarity()) {
    const auto normalized = [&](const std::string& x) {
      const std::string norm =
          l.emit.op("reduce_l2_norm",
                    {{"x", var(x)}, {"axes", lit_ints({-3})}, {"keep_dims", lit_bool(true)}});
      return l.emit.op("real_div", {{"x", var(x)}, {"y", var(norm)}});
    };
    a = normalized(a);
    b = normalized(b);
  }
  const std::string product = l.emit.op("mul", {{"x", var(a)}, {"y", var(b)}});
  return {{l.emit.op("reduce_sum",
                     {{"x", var(product)}, {"axes", lit_ints({-3})}, {"keep_dims", lit_bool(true)}},
                     l.outputs[0]),
           std::max(l.input(0).rank, l.input(1).rank)}};
}

// SequenceRepeat: [Seq, B, C, H, W] -> [nRepetitions * Seq, B, C, H, W] (0 means 1).
std::vector<Blob> sequence_repeat(Layer& l) {
  l.expect_inputs(1, 1);
  l.expect_outputs(1);
  if (l.input().rank != 5) l.where.fail("input must have rank 5, got rank ", l.input().rank);
  int64_t n = checked_size(l.proto.sequence_repeat().n_repetitions(), l.where, "nRepetitions");
  if (n == 0) n = 1;
  return {{l.emit.op("tile", {{"x", var(l.input().name)}, {"reps", lit_ints({n, 1, 1, 1, 1})}},
                     l.outputs[0]),
           5}};
}

// CropResize: x [1, Batch, C, H, W] and boxes [N, 1, 4 or 5, 1, 1] -> [N, Batch or 1, C, h, w],
// MIL's crop_resize (iOS 15 form) on x without its leading axis.
std::vector<Blob> crop_resize(Layer& l) {
  l.expect_inputs(2, 2);
  l.expect_outputs(1);
  const auto& p = l.proto.crop_resize();
  if (l.input(0).rank != 5 || l.input(1).rank != 5) {
    l.where.fail("both inputs must have rank 5, got ranks ", l.input(0).rank, " and ",
                 l.input(1).rank);
  }
  int64_t height = 1, width = 1;
  if (!p.target_size().empty()) {
    if (p.target_size().size() != 2) l.where.fail("targetSize must have 2 values [H, W]");
    height = checked_size(p.target_size(0), l.where, "targetSize");
    width = checked_size(p.target_size(1), l.where, "targetSize");
    if (height < 1 || width < 1) l.where.fail("targetSize must be positive");
  }
  static const char* const kSampling[] = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT",
                                          "OFFSET_CORNERS"};
  static const char* const kBoxes[] = {"CORNERS_HEIGHT_FIRST", "CORNERS_WIDTH_FIRST",
                                       "CENTER_SIZE_HEIGHT_FIRST", "CENTER_SIZE_WIDTH_FIRST"};
  const int method = p.mode().sampling_method();
  if (method < 0 || method > 3) l.where.fail("sampling method ", method, " is not defined");
  const int box_mode = p.box_indices_mode().box_mode();
  if (box_mode < 0 || box_mode > 3) l.where.fail("box mode ", box_mode, " is not defined");
  const float scale = p.spatial_scale() == 0.0f ? 1.0f : p.spatial_scale();
  const std::string x =
      l.emit.op("squeeze", {{"x", var(l.input(0).name)}, {"axes", lit_ints({0})}});
  return {{l.emit.op("crop_resize",
                     {{"x", var(x)},
                      {"roi", var(l.input(1).name)},
                      {"target_height", lit_int(height)},
                      {"target_width", lit_int(width)},
                      {"normalized_coordinates", lit_bool(p.normalized_coordinates())},
                      {"spatial_scale", lit_float(scale)},
                      {"box_coordinate_mode", lit_string(kBoxes[box_mode])},
                      {"sampling_mode", lit_string(kSampling[method])}},
                     l.outputs[0]),
           5}};
}

}  // namespace
}  // namespace legacy_layers

std::vector<Blob> translate_legacy(Layer& l) {
  using legacy_layers::L;
  switch (l.proto.layer_case()) {
    case L::kMvn: return legacy_layers::mvn(l);
    case L::kEmbedding: return legacy_layers::embedding(l);
    case L::kDot: return legacy_layers::dot(l);
    case L::kSequenceRepeat: return legacy_layers::sequence_repeat(l);
    case L::kCropResize: return legacy_layers::crop_resize(l);
    case L::kCopy:
      l.expect_inputs(1, 1);
      l.expect_outputs(1);
      return {{l.emit.op("identity", {{"x", var(l.input().name)}}, l.outputs[0]), l.input().rank}};
    default: break;
  }
  l.where.unsupported("layer type is not supported");
}

}  // namespace coreml::format::nn
