// The model level of the NeuralNetwork translation: network inputs (with image
// preprocessing), the layers in order, network outputs, and a classifier's classify op.
#include "format/neural_network/translate.h"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "format/neural_network/layers.h"

namespace coreml::format {
namespace {

using nn::Blob;
using nn::Emitter;
using nn::Layer;
using nn::lit_ints;
using nn::var;
using nn::Where;

// Members of NeuralNetworkLayer's `layer` oneof by field number (coremltools 9.0,
// NeuralNetwork_pb2), to name layer types in messages, including those we do not read.
constexpr std::array<std::pair<int, std::string_view>, 158> kLayerTypes{{
    {100, "convolution"},
    {120, "pooling"},
    {130, "activation"},
    {140, "innerProduct"},
    {150, "embedding"},
    {160, "batchnorm"},
    {165, "mvn"},
    {170, "l2normalize"},
    {175, "softmax"},
    {180, "lrn"},
    {190, "crop"},
    {200, "padding"},
    {210, "upsample"},
    {211, "resizeBilinear"},
    {212, "cropResize"},
    {220, "unary"},
    {230, "add"},
    {231, "multiply"},
    {240, "average"},
    {245, "scale"},
    {250, "bias"},
    {260, "max"},
    {261, "min"},
    {270, "dot"},
    {280, "reduce"},
    {290, "loadConstant"},
    {300, "reshape"},
    {301, "flatten"},
    {310, "permute"},
    {320, "concat"},
    {330, "split"},
    {340, "sequenceRepeat"},
    {345, "reorganizeData"},
    {350, "slice"},
    {400, "simpleRecurrent"},
    {410, "gru"},
    {420, "uniDirectionalLSTM"},
    {430, "biDirectionalLSTM"},
    {500, "custom"},
    {600, "copy"},
    {605, "branch"},
    {615, "loop"},
    {620, "loopBreak"},
    {625, "loopContinue"},
    {635, "rangeStatic"},
    {640, "rangeDynamic"},
    {660, "clip"},
    {665, "ceil"},
    {670, "floor"},
    {680, "sign"},
    {685, "round"},
    {700, "exp2"},
    {710, "sin"},
    {715, "cos"},
    {720, "tan"},
    {730, "asin"},
    {735, "acos"},
    {740, "atan"},
    {750, "sinh"},
    {755, "cosh"},
    {760, "tanh"},
    {770, "asinh"},
    {775, "acosh"},
    {780, "atanh"},
    {790, "erf"},
    {795, "gelu"},
    {815, "equal"},
    {820, "notEqual"},
    {825, "lessThan"},
    {827, "lessEqual"},
    {830, "greaterThan"},
    {832, "greaterEqual"},
    {840, "logicalOr"},
    {845, "logicalXor"},
    {850, "logicalNot"},
    {855, "logicalAnd"},
    {865, "modBroadcastable"},
    {870, "minBroadcastable"},
    {875, "maxBroadcastable"},
    {880, "addBroadcastable"},
    {885, "powBroadcastable"},
    {890, "divideBroadcastable"},
    {895, "floorDivBroadcastable"},
    {900, "multiplyBroadcastable"},
    {905, "subtractBroadcastable"},
    {920, "tile"},
    {925, "stack"},
    {930, "gather"},
    {935, "scatter"},
    {940, "gatherND"},
    {945, "scatterND"},
    {950, "softmaxND"},
    {952, "gatherAlongAxis"},
    {954, "scatterAlongAxis"},
    {960, "reverse"},
    {965, "reverseSeq"},
    {975, "splitND"},
    {980, "concatND"},
    {985, "transpose"},
    {995, "sliceStatic"},
    {1000, "sliceDynamic"},
    {1005, "slidingWindows"},
    {1015, "topK"},
    {1020, "argMin"},
    {1025, "argMax"},
    {1040, "embeddingND"},
    {1045, "batchedMatmul"},
    {1065, "getShape"},
    {1070, "loadConstantND"},
    {1080, "fillLike"},
    {1085, "fillStatic"},
    {1090, "fillDynamic"},
    {1100, "broadcastToLike"},
    {1105, "broadcastToStatic"},
    {1110, "broadcastToDynamic"},
    {1120, "squeeze"},
    {1125, "expandDims"},
    {1130, "flattenTo2D"},
    {1135, "reshapeLike"},
    {1140, "reshapeStatic"},
    {1145, "reshapeDynamic"},
    {1150, "rankPreservingReshape"},
    {1155, "constantPad"},
    {1170, "randomNormalLike"},
    {1175, "randomNormalStatic"},
    {1180, "randomNormalDynamic"},
    {1190, "randomUniformLike"},
    {1195, "randomUniformStatic"},
    {1200, "randomUniformDynamic"},
    {1210, "randomBernoulliLike"},
    {1215, "randomBernoulliStatic"},
    {1220, "randomBernoulliDynamic"},
    {1230, "categoricalDistribution"},
    {1250, "reduceL1"},
    {1255, "reduceL2"},
    {1260, "reduceMax"},
    {1265, "reduceMin"},
    {1270, "reduceSum"},
    {1275, "reduceProd"},
    {1280, "reduceMean"},
    {1285, "reduceLogSum"},
    {1290, "reduceSumSquare"},
    {1295, "reduceLogSumExp"},
    {1313, "whereNonZero"},
    {1315, "matrixBandPart"},
    {1320, "lowerTriangular"},
    {1325, "upperTriangular"},
    {1330, "whereBroadcastable"},
    {1350, "layerNormalization"},
    {1400, "NonMaximumSuppression"},
    {1450, "oneHot"},
    {1455, "cumSum"},
    {1460, "clampedReLU"},
    {1461, "argSort"},
    {1465, "pooling3d"},
    {1466, "globalPooling3d"},
    {1470, "sliceBySize"},
    {1471, "convolution3d"},
}};

constexpr int kRank5Mapping = 0;  // array and image shape mappings of specification <= 3

std::string layer_type_name(int field_number) {
  for (const auto& [number, name] : kLayerTypes) {
    if (number == field_number) return std::string(name);
  }
  return "field " + std::to_string(field_number);
}

// The layer type of a layer: the set oneof member, or for one our schema does not declare,
// the first unknown field that is a member of Apple's oneof.
int layer_type_number(const spec::NeuralNetworkLayer& layer) {
  if (layer.layer_case() != spec::NeuralNetworkLayer::LAYER_NOT_SET) return layer.layer_case();
  const auto& unknown = layer.GetReflection()->GetUnknownFields(layer);
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (unknown.field(i).number() >= 100) return unknown.field(i).number();
  }
  return 0;
}

// What the three NN model types share.
struct Network {
  const google::protobuf::RepeatedPtrField<spec::NeuralNetworkLayer>* layers = nullptr;
  const google::protobuf::RepeatedPtrField<spec::NeuralNetworkPreprocessing>* preprocessing =
      nullptr;
  int array_mapping = 0;
  int image_mapping = 0;
  const spec::NeuralNetworkClassifier* classifier = nullptr;
};

template <typename Message>
Network network_of(const Message& m) {
  return {&m.layers(), &m.preprocessing(), m.array_input_shape_mapping(),
          m.image_input_shape_mapping(), nullptr};
}

Network pick_network(const spec::Model& model, const std::string& source) {
  if (model.has_neural_network()) return network_of(model.neural_network());
  if (model.has_neural_network_regressor()) return network_of(model.neural_network_regressor());
  if (model.has_neural_network_classifier()) {
    Network n = network_of(model.neural_network_classifier());
    n.classifier = &model.neural_network_classifier();
    return n;
  }
  fail(ErrorCode::kInternal, source, ": not a NeuralNetwork model");
}

class Translator {
 public:
  Translator(const spec::Model& model, const std::string& source)
      : model_(model), source_(source), net_(pick_network(model, source)), emit_(function_.block) {}

  mil::Program run() {
    function_.name = "main";
    function_.opset = "CoreML6";
    if (net_.layers->size() > nn::kMaxLayers) {
      fail(ErrorCode::kUnsupported, source_, ": ", net_.layers->size(), " layers (at most ",
           nn::kMaxLayers, ")");
    }
    plan_output_names();
    for (const auto& input : model_.description().input()) add_input(input);
    for (int i = 0; i < net_.layers->size(); ++i) add_layer(net_.layers->Get(i));
    add_outputs();
    mil::Program program;
    program.functions.push_back(std::move(function_));
    return program;
  }

 private:
  bool legacy_arrays() const { return net_.array_mapping == kRank5Mapping; }
  bool legacy_images() const { return net_.image_mapping == kRank5Mapping; }

  [[noreturn]] void fail_feature(const std::string& name, const std::string& what) const {
    fail(ErrorCode::kUnsupported, source_, ": input '", name, "': ", what);
  }

  // Network outputs that need a last op after their layer (legacy reshape to the declared
  // shape, or a classifier's classify op) get an internal name for the layer's own result.
  void plan_output_names() {
    const auto& description = model_.description();
    if (net_.classifier) {
      renamed_.insert(description.predicted_feature_name());
      renamed_.insert(description.predicted_probabilities_name());
    }
    // A network output that layers define more than once (copy layers, branches) is the
    // last definition: earlier ones must leave the feature's name free.
    std::unordered_map<std::string, int> definitions;
    count_definitions(*net_.layers, definitions, 0);
    for (const auto& output : description.output()) {
      if (definitions[output.name()] > 1) renamed_.insert(output.name());
    }
    if (!legacy_arrays()) return;
    for (const auto& output : description.output()) {
      if (output.type().has_multi_array_type() &&
          !output.type().multi_array_type().shape().empty()) {
        renamed_.insert(output.name());
        reshaped_.insert(output.name());
      }
    }
  }

  static void count_definitions(
      const google::protobuf::RepeatedPtrField<spec::NeuralNetworkLayer>& layers,
      std::unordered_map<std::string, int>& definitions, int depth) {
    if (depth > kMaxBranchDepth) return;  // refused with a message when translated
    for (const auto& layer : layers) {
      for (const auto& out : layer.output()) ++definitions[out];
      if (layer.layer_case() == spec::NeuralNetworkLayer::kBranch) {
        count_definitions(layer.branch().if_branch().layers(), definitions, depth + 1);
        count_definitions(layer.branch().else_branch().layers(), definitions, depth + 1);
      }
      if (layer.layer_case() == spec::NeuralNetworkLayer::kLoop) {
        count_definitions(layer.loop().condition_network().layers(), definitions, depth + 1);
        count_definitions(layer.loop().body_network().layers(), definitions, depth + 1);
      }
    }
  }

  std::string mil_name_for(const std::string& nn_name) {
    if (branch_depth_ > 0) return emit_.fresh(nn_name);  // inside a cond block: never clash
    const std::string name = renamed_.count(nn_name) ? nn_name + "__nn_raw" : nn_name;
    if (defined_names_.count(name)) return emit_.fresh(nn_name);  // redefined (copy layers)
    return name;
  }

  void add_input(const spec::FeatureDescription& feature) {
    const std::string& name = feature.name();
    mil::TensorType type;
    type.dtype = mil::DataType::kFloat32;
    type.shape = std::vector<mil::Dim>{};
    Blob blob{name, 0};
    const spec::FeatureType& t = feature.type();
    if (t.has_multi_array_type()) {
      const auto& array = t.multi_array_type();
      const bool flexible = array.has_enumerated_shapes() || array.has_shape_range();
      if (array.shape().size() > nn::kMaxRank || array.shape().empty()) {
        fail_feature(name, "a NeuralNetwork array input needs rank 1 to 5, got rank " +
                               std::to_string(array.shape().size()));
      }
      for (int64_t d : array.shape()) {
        if (d < 0) fail_feature(name, "negative dimension in its shape");
        type.shape->push_back(flexible ? mil::Dim::unknown() : mil::Dim::of(d));
      }
      blob.rank = array.shape().size();
      function_.inputs.push_back({name, mil::Type::of_tensor(type)});
      defined_names_.insert(name);
      if (legacy_arrays()) {
        if (blob.rank != 1 && blob.rank != 3) {
          fail_feature(name, "specification <= 3 networks take arrays of rank 1 or 3, got rank " +
                                 std::to_string(blob.rank));
        }
        // [C] -> [1, 1, C, 1, 1]; [C, H, W] -> [1, 1, C, H, W]
        const auto axes =
            blob.rank == 1 ? std::vector<int64_t>{0, 1, 3, 4} : std::vector<int64_t>{0, 1};
        blob = {emit_.op("expand_dims", {{"x", var(name)}, {"axes", lit_ints(axes)}}), 5};
      }
    } else if (t.has_image_type()) {
      const auto& image = t.image_type();
      const int channels = image.color_space() == 10 || image.color_space() == 40 ? 1 : 3;
      const bool flexible = image.has_enumerated_sizes() || image.has_image_size_range();
      const auto dim = [&](int64_t d) { return flexible ? mil::Dim::unknown() : mil::Dim::of(d); };
      type.shape = std::vector<mil::Dim>{mil::Dim::of(1), mil::Dim::of(channels),
                                         dim(image.height()), dim(image.width())};
      function_.inputs.push_back({name, mil::Type::of_tensor(type)});
      defined_names_.insert(name);
      blob = {preprocess(name, image.color_space(), channels), 4};
      if (legacy_images()) {
        blob = {emit_.op("expand_dims", {{"x", var(blob.name)}, {"axes", lit_ints({0})}}), 5};
      }
    } else {
      fail_feature(name, "NeuralNetwork inputs must be arrays or images");
    }
    blobs_[name] = blob;
  }

  // NeuralNetworkPreprocessing of image input `name` ([1, C, H, W], 0-255 in its color space).
  std::string preprocess(const std::string& name, int color_space, int channels) {
    std::string x = name;
    for (const auto& p : *net_.preprocessing) {
      if (!p.feature_name().empty() && p.feature_name() != name) continue;
      if (p.has_scaler()) {
        const auto& s = p.scaler();
        std::vector<float> bias;
        if (channels == 1) {
          bias = {s.gray_bias()};
        } else if (color_space == 30) {  // BGR
          bias = {s.blue_bias(), s.green_bias(), s.red_bias()};
        } else {
          bias = {s.red_bias(), s.green_bias(), s.blue_bias()};
        }
        const std::string scaled =
            emit_.op("mul", {{"x", var(x)}, {"y", nn::lit_float(s.channel_scale())}});
        const std::string b = emit_.constant({1, channels, 1, 1}, bias);
        x = emit_.op("add", {{"x", var(scaled)}, {"y", var(b)}});
      } else if (p.has_mean_image()) {
        const auto& mean = p.mean_image().mean_image();
        const Where where{source_, "preprocessing of input '" + name + "'"};
        const auto& image = find_input(name).type().image_type();
        const int64_t count =
            nn::checked_product({channels, image.height(), image.width()}, where, "meanImage");
        if (mean.size() != count) {
          where.fail("meanImage has ", mean.size(), " values, expected ", count);
        }
        const std::string m = emit_.constant({1, channels, image.height(), image.width()},
                                             {mean.begin(), mean.end()});
        x = emit_.op("sub", {{"x", var(x)}, {"y", var(m)}});
      }
    }
    return x;
  }

  const spec::FeatureDescription& find_input(const std::string& name) const {
    for (const auto& f : model_.description().input()) {
      if (f.name() == name) return f;
    }
    fail(ErrorCode::kInternal, source_, ": no input '", name, "'");
  }

  void add_layer(const spec::NeuralNetworkLayer& proto) {
    const int type = layer_type_number(proto);
    const Where where{source_, "layer '" + proto.name() + "' (" +
                                   (type ? layer_type_name(type) : std::string("no type")) + ")"};
    if (type == 0) where.fail("the layer has no type");
    std::vector<Blob> inputs;
    for (const auto& in : proto.input()) {
      const auto it = blobs_.find(in);
      if (it == blobs_.end()) {
        where.fail("input '", in, "' is neither a model input nor the output of an earlier layer");
      }
      inputs.push_back(it->second);
    }
    std::vector<std::string> outputs;
    for (const auto& out : proto.output()) outputs.push_back(mil_name_for(out));
    if (++layer_count_ > nn::kMaxLayers) {
      where.fail("more than ", nn::kMaxLayers, " layers, counting those of branches");
    }
    if (proto.layer_case() == spec::NeuralNetworkLayer::kBranch) {
      add_branch(proto, where, inputs);
      return;
    }
    if (proto.layer_case() == spec::NeuralNetworkLayer::kLoop) {
      add_loop(proto, where, inputs);
      return;
    }
    Layer layer{proto, *current_, where, std::move(inputs), outputs, declared_rank(proto)};
    std::vector<Blob> results;
    switch (proto.layer_case()) {
      case spec::NeuralNetworkLayer::kConvolution:
      case spec::NeuralNetworkLayer::kPooling:
      case spec::NeuralNetworkLayer::kBatchnorm:
      case spec::NeuralNetworkLayer::kPadding:
      case spec::NeuralNetworkLayer::kUpsample:
      case spec::NeuralNetworkLayer::kCrop:
      case spec::NeuralNetworkLayer::kLrn:
      case spec::NeuralNetworkLayer::kL2Normalize: results = translate_spatial(layer); break;
      case spec::NeuralNetworkLayer::kActivation:
      case spec::NeuralNetworkLayer::kInnerProduct:
      case spec::NeuralNetworkLayer::kUnary:
      case spec::NeuralNetworkLayer::kAdd:
      case spec::NeuralNetworkLayer::kMultiply:
      case spec::NeuralNetworkLayer::kAverage:
      case spec::NeuralNetworkLayer::kMax:
      case spec::NeuralNetworkLayer::kMin:
      case spec::NeuralNetworkLayer::kScale:
      case spec::NeuralNetworkLayer::kBias:
      case spec::NeuralNetworkLayer::kLoadConstant:
      case spec::NeuralNetworkLayer::kLoadConstantNd:
      case spec::NeuralNetworkLayer::kClip:
      case spec::NeuralNetworkLayer::kAddBroadcastable:
      case spec::NeuralNetworkLayer::kMultiplyBroadcastable:
      case spec::NeuralNetworkLayer::kSubtractBroadcastable:
        results = translate_elementwise(layer);
        break;
      case spec::NeuralNetworkLayer::kUniDirectionalLstm:
      case spec::NeuralNetworkLayer::kBiDirectionalLstm:
      case spec::NeuralNetworkLayer::kGru:
      case spec::NeuralNetworkLayer::kSimpleRecurrent: results = translate_recurrent(layer); break;
      case spec::NeuralNetworkLayer::kMvn:
      case spec::NeuralNetworkLayer::kEmbedding:
      case spec::NeuralNetworkLayer::kDot:
      case spec::NeuralNetworkLayer::kSequenceRepeat:
      case spec::NeuralNetworkLayer::kCropResize:
      case spec::NeuralNetworkLayer::kCopy: results = translate_legacy(layer); break;
      case spec::NeuralNetworkLayer::kEqual:
      case spec::NeuralNetworkLayer::kNotEqual:
      case spec::NeuralNetworkLayer::kLessThan:
      case spec::NeuralNetworkLayer::kLessEqual:
      case spec::NeuralNetworkLayer::kGreaterThan:
      case spec::NeuralNetworkLayer::kGreaterEqual:
      case spec::NeuralNetworkLayer::kLogicalAnd:
      case spec::NeuralNetworkLayer::kLogicalOr:
      case spec::NeuralNetworkLayer::kLogicalXor:
      case spec::NeuralNetworkLayer::kLogicalNot:
      case spec::NeuralNetworkLayer::kModBroadcastable:
      case spec::NeuralNetworkLayer::kFloorDivBroadcastable:
      case spec::NeuralNetworkLayer::kAsinh:
      case spec::NeuralNetworkLayer::kAcosh:
      case spec::NeuralNetworkLayer::kGatherNd:
      case spec::NeuralNetworkLayer::kScatter:
      case spec::NeuralNetworkLayer::kScatterNd:
      case spec::NeuralNetworkLayer::kGatherAlongAxis:
      case spec::NeuralNetworkLayer::kScatterAlongAxis:
      case spec::NeuralNetworkLayer::kStack:
      case spec::NeuralNetworkLayer::kReverse:
      case spec::NeuralNetworkLayer::kReverseSeq:
      case spec::NeuralNetworkLayer::kSlidingWindows:
      case spec::NeuralNetworkLayer::kGetShape:
      case spec::NeuralNetworkLayer::kFillLike:
      case spec::NeuralNetworkLayer::kFillStatic:
      case spec::NeuralNetworkLayer::kFillDynamic:
      case spec::NeuralNetworkLayer::kBroadcastToLike:
      case spec::NeuralNetworkLayer::kBroadcastToStatic:
      case spec::NeuralNetworkLayer::kBroadcastToDynamic:
      case spec::NeuralNetworkLayer::kReshapeLike:
      case spec::NeuralNetworkLayer::kReshapeDynamic:
      case spec::NeuralNetworkLayer::kRangeStatic:
      case spec::NeuralNetworkLayer::kRangeDynamic:
      case spec::NeuralNetworkLayer::kRandomNormalLike:
      case spec::NeuralNetworkLayer::kRandomNormalStatic:
      case spec::NeuralNetworkLayer::kRandomNormalDynamic:
      case spec::NeuralNetworkLayer::kRandomUniformLike:
      case spec::NeuralNetworkLayer::kRandomUniformStatic:
      case spec::NeuralNetworkLayer::kRandomUniformDynamic:
      case spec::NeuralNetworkLayer::kRandomBernoulliLike:
      case spec::NeuralNetworkLayer::kRandomBernoulliStatic:
      case spec::NeuralNetworkLayer::kRandomBernoulliDynamic:
      case spec::NeuralNetworkLayer::kWhereNonZero:
      case spec::NeuralNetworkLayer::kMatrixBandPart:
      case spec::NeuralNetworkLayer::kLowerTriangular:
      case spec::NeuralNetworkLayer::kUpperTriangular:
      case spec::NeuralNetworkLayer::kWhereBroadcastable:
      case spec::NeuralNetworkLayer::kOneHot:
      case spec::NeuralNetworkLayer::kCumSum:
      case spec::NeuralNetworkLayer::kClampedRelu:
      case spec::NeuralNetworkLayer::kArgSort:
      case spec::NeuralNetworkLayer::kSliceBySize:
      case spec::NeuralNetworkLayer::kRankPreservingReshape:
      case spec::NeuralNetworkLayer::kSliceDynamic: results = translate_indexing(layer); break;
      case spec::NeuralNetworkLayer::LAYER_NOT_SET:
        where.unsupported("layer type ", layer_type_name(type), " is not supported");
      default: results = translate_shape(layer); break;
    }
    if (results.size() != static_cast<size_t>(proto.output().size())) {
      fail(ErrorCode::kInternal, where.source, ": ", where.layer, ": produced ", results.size(),
           " outputs for ", proto.output().size());
    }
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].rank > nn::kMaxRank) where.fail("output rank ", results[i].rank, " exceeds 5");
      blobs_[proto.output(static_cast<int>(i))] = results[i];
      defined_names_.insert(results[i].name);
    }
  }

  // The rank of a layer's first output as the file states it: its outputTensor, or (exact
  // array mapping) the shape of the network output of that name; 0 when neither says.
  int declared_rank(const spec::NeuralNetworkLayer& proto) const {
    if (!proto.output_tensor().empty() && proto.output_tensor(0).rank() > 0) {
      return static_cast<int>(std::min<uint32_t>(proto.output_tensor(0).rank(), 1000));
    }
    if (proto.output().empty() || legacy_arrays()) return 0;
    for (const auto& output : model_.description().output()) {
      if (output.name() == proto.output(0) && output.type().has_multi_array_type()) {
        return static_cast<int>(
            std::min<int>(output.type().multi_array_type().shape().size(), 1000));
      }
    }
    return 0;
  }

  // branch: MIL cond whose two blocks run the branches' layers. Each blob a branch (re)defines
  // that is defined after both branches (an else-less branch keeps the earlier value) becomes
  // an output of the cond; a blob defined by one branch only is not visible after the layer.
  void add_branch(const spec::NeuralNetworkLayer& proto, const Where& where,
                  const std::vector<Blob>& inputs) {
    if (inputs.size() != 1 || !proto.output().empty()) {
      where.fail("takes 1 input (the condition) and produces no outputs");
    }
    if (branch_depth_ >= kMaxBranchDepth) where.fail("branches nest deeper than ", kMaxBranchDepth);
    const auto& p = proto.branch();
    if (!p.has_if_branch()) where.fail("ifBranch is missing");
    Emitter& outer = *current_;
    const std::string magnitude = outer.op("abs", {{"x", var(inputs[0].name)}});
    const std::string pred = outer.op(
        "greater", {{"x", var(magnitude)}, {"y", nn::lit_float(1e-6)}}, {}, mil::DataType::kBool);
    const auto before = blobs_;
    mil::Operation cond;
    cond.type = "cond";
    cond.inputs["pred"].bindings.push_back(var(pred));
    std::unordered_map<std::string, Blob> after[2];
    for (int b = 0; b < 2; ++b) {
      cond.blocks.emplace_back();
      blobs_ = before;
      const bool present = b == 0 || p.has_else_branch();
      if (present) {
        const auto& net = b == 0 ? p.if_branch() : p.else_branch();
        Emitter inner(cond.blocks.back(), outer);
        current_ = &inner;
        ++branch_depth_;
        for (const auto& layer : net.layers()) add_layer(layer);
        --branch_depth_;
        current_ = &outer;
      }
      after[b] = blobs_;
    }
    std::set<std::string> changed;  // ordered: a deterministic output order
    for (const auto& side : after) {
      for (const auto& [name, blob] : side) {
        const auto it = before.find(name);
        if (it == before.end() || it->second.name != blob.name) changed.insert(name);
      }
    }
    blobs_ = before;
    for (const std::string& name : changed) {
      const auto in_if = after[0].find(name);
      const auto in_else = after[1].find(name);
      if (in_if == after[0].end() || in_else == after[1].end()) continue;
      if (in_if->second.rank != in_else->second.rank) {
        where.fail("blob '", name, "' has rank ", in_if->second.rank, " in ifBranch and ",
                   in_else->second.rank, " in elseBranch");
      }
      for (int b = 0; b < 2; ++b) {
        Emitter inner(cond.blocks[static_cast<size_t>(b)], outer);
        const std::string& value = (b == 0 ? in_if : in_else)->second.name;
        cond.blocks[static_cast<size_t>(b)].outputs.push_back(
            inner.op("identity", {{"x", var(value)}}));
      }
      mil::TensorType t;
      t.dtype = mil::DataType::kFloat32;
      const std::string out = mil_name_for(name);
      cond.outputs.push_back({out, mil::Type::of_tensor(t)});
      blobs_[name] = {out, in_if->second.rank};
      defined_names_.insert(out);
    }
    if (cond.outputs.empty()) return;  // nothing visible after the layer changes
    cond.attributes["name"] = mil::Value::string_scalar(outer.fresh("branch"));
    outer.block().operations.push_back(std::move(cond));
  }

  // loop: MIL while_loop. The condition network runs once before the loop (in the enclosing
  // block) and again at the end of every body run; the loop variables are an fp32 iteration
  // count and every blob visible before the loop that the condition or body network
  // redefines (a blob they only create is not visible after the layer).
  void add_loop(const spec::NeuralNetworkLayer& proto, const Where& where,
                const std::vector<Blob>& inputs) {
    if (inputs.size() > 1 || !proto.output().empty()) {
      where.fail("takes 0 or 1 input (the iteration bound) and produces no outputs");
    }
    if (branch_depth_ >= kMaxBranchDepth) where.fail("loops nest deeper than ", kMaxBranchDepth);
    const auto& p = proto.loop();
    const bool has_condition = !p.condition_var().empty();
    // (coremltools' builder writes an empty conditionNetwork for a plain for loop)
    if (has_condition != !p.condition_network().layers().empty()) {
      where.fail("conditionVar and a conditionNetwork with layers must come together");
    }
    const bool bounded = !inputs.empty() || p.max_loop_iterations() > 0;
    if (!has_condition && !bounded) where.fail("a loop without conditionNetwork needs a bound");
    Emitter& outer = *current_;
    std::string bound;
    if (!inputs.empty()) {
      bound = inputs[0].name;
    } else if (bounded) {
      const double n = static_cast<double>(
          nn::checked_size(p.max_loop_iterations(), where, "maxLoopIterations"));
      bound = outer.constant(nn::float_tensor({1}, {static_cast<float>(n)}));
    }
    if (has_condition) {
      for (const auto& layer : p.condition_network().layers()) add_layer(layer);
      if (!blobs_.count(p.condition_var())) {
        where.fail("conditionNetwork does not produce conditionVar '", p.condition_var(), "'");
      }
    }
    std::unordered_map<std::string, int> defined;
    count_definitions(p.body_network().layers(), defined, 0);
    count_definitions(p.condition_network().layers(), defined, 0);
    std::vector<std::string> carried;  // NN names, in a deterministic order
    for (const auto& [name, blob] : blobs_) {
      if (defined.count(name)) carried.push_back(name);
    }
    std::sort(carried.begin(), carried.end());
    const auto before = blobs_;

    mil::Operation loop;
    loop.type = "while_loop";
    const std::string zero = outer.constant(nn::float_tensor({1}, {0.0f}));
    auto& loop_vars = loop.inputs["loop_vars"].bindings;
    loop_vars.push_back(var(zero));
    for (const auto& name : carried) loop_vars.push_back(var(before.at(name).name));
    mil::TensorType fp32;
    fp32.dtype = mil::DataType::kFloat32;
    // Block inputs: fresh names bound to the loop variables.
    const auto bind_inputs = [&](mil::Block& block, Emitter& e) {
      const std::string count = e.fresh("loop_count");
      block.inputs.push_back({count, mil::Type::of_tensor(fp32)});
      for (const auto& name : carried) {
        const std::string v = e.fresh(name);
        block.inputs.push_back({v, mil::Type::of_tensor(fp32)});
        blobs_[name] = {v, before.at(name).rank};
      }
      return count;
    };
    ++branch_depth_;
    {  // condition block: conditionVar non-zero, and count < bound
      loop.blocks.emplace_back();
      Emitter e(loop.blocks.back(), outer);
      const std::string count = bind_inputs(loop.blocks.back(), e);
      std::string go;
      if (has_condition) {
        const std::string magnitude = e.op("abs", {{"x", var(blobs_.at(p.condition_var()).name)}});
        go = e.op("greater", {{"x", var(magnitude)}, {"y", nn::lit_float(1e-6)}}, {},
                  mil::DataType::kBool);
      }
      if (!bound.empty()) {
        const std::string below =
            e.op("less", {{"x", var(count)}, {"y", var(bound)}}, {}, mil::DataType::kBool);
        go = go.empty() ? below
                        : e.op("logical_and", {{"x", var(go)}, {"y", var(below)}}, {},
                               mil::DataType::kBool);
      }
      loop.blocks.back().outputs.push_back(go);
    }
    {  // body block: the body network, count + 1, the condition network again
      loop.blocks.emplace_back();
      mil::Block& block = loop.blocks.back();
      Emitter e(block, outer);
      const std::string count = bind_inputs(block, e);
      current_ = &e;
      for (const auto& layer : p.body_network().layers()) add_layer(layer);
      for (const auto& layer : p.condition_network().layers()) add_layer(layer);
      current_ = &outer;
      block.outputs.push_back(e.op("add", {{"x", var(count)}, {"y", nn::lit_float(1.0)}}));
      for (const auto& name : carried) {
        if (blobs_.at(name).rank != before.at(name).rank) {
          where.fail("blob '", name, "' changes rank in the loop body");
        }
        block.outputs.push_back(e.op("identity", {{"x", var(blobs_.at(name).name)}}));
      }
    }
    --branch_depth_;
    blobs_ = before;
    loop.outputs.push_back({outer.fresh("loop_count"), mil::Type::of_tensor(fp32)});
    for (const auto& name : carried) {
      const std::string out = mil_name_for(name);
      loop.outputs.push_back({out, mil::Type::of_tensor(fp32)});
      blobs_[name] = {out, before.at(name).rank};
      defined_names_.insert(out);
    }
    loop.attributes["name"] = mil::Value::string_scalar(outer.fresh("loop"));
    outer.block().operations.push_back(std::move(loop));
  }

  void add_outputs() {
    std::string label_name, probs_name;
    if (net_.classifier) add_classify(&label_name, &probs_name);
    for (const auto& output : model_.description().output()) {
      const std::string& name = output.name();
      if (net_.classifier && (name == label_name || name == probs_name)) {
        function_.block.outputs.push_back(name);
        continue;
      }
      const auto it = blobs_.find(name);
      if (it == blobs_.end()) {
        fail(ErrorCode::kParse, source_, ": output '", name, "' is not produced by any layer");
      }
      std::string value = it->second.name;
      if (reshaped_.count(name)) {
        std::vector<int64_t> shape(output.type().multi_array_type().shape().begin(),
                                   output.type().multi_array_type().shape().end());
        value = emit_.op("reshape", {{"x", var(value)}, {"shape", lit_ints(shape)}}, name);
      } else if (value != name) {
        value = emit_.op("identity", {{"x", var(value)}}, name);
      }
      function_.block.outputs.push_back(value);
    }
  }

  void add_classify(std::string* label_name, std::string* probs_name) {
    const auto& c = *net_.classifier;
    const auto& description = model_.description();
    const Where where{source_, "classifier"};
    std::string probs = c.label_probability_layer_name();
    if (probs.empty()) {
      if (net_.layers->empty() || net_.layers->rbegin()->output().empty()) {
        where.fail("no layer produces the class probabilities");
      }
      probs = net_.layers->rbegin()->output(0);
    }
    const auto it = blobs_.find(probs);
    if (it == blobs_.end()) where.fail("labelProbabilityLayerName '", probs, "' is not a layer");
    mil::Value classes;
    classes.kind = mil::Value::Kind::kList;
    if (c.has_string_class_labels()) {
      for (const auto& s : c.string_class_labels().vector()) {
        classes.elements.push_back(mil::Value::string_scalar(s));
      }
    } else if (c.has_int64_class_labels()) {
      for (int64_t v : c.int64_class_labels().vector()) {
        classes.elements.push_back(mil::Value::int_scalar(mil::DataType::kInt64, v));
      }
    } else {
      where.fail("a classifier needs stringClassLabels or int64ClassLabels");
    }
    classes.type.kind = mil::Type::Kind::kList;
    classes.type.elements.push_back(classes.elements.empty()
                                        ? mil::Type::scalar(mil::DataType::kString)
                                        : classes.elements.front().type);
    classes.type.length = static_cast<int64_t>(classes.elements.size());
    const std::string flat =
        emit_.op("reshape", {{"x", var(it->second.name)}, {"shape", lit_ints({-1})}});
    *label_name = description.predicted_feature_name();
    *probs_name = description.predicted_probabilities_name();
    if (label_name->empty()) where.fail("the model description names no predicted feature");
    emit_.op_n("classify", {{"probabilities", var(flat)}, {"classes", nn::lit(classes)}},
               {*label_name, *probs_name}, {mil::DataType::kInt64, mil::DataType::kFloat64});
  }

  const spec::Model& model_;
  const std::string& source_;
  Network net_;
  mil::Function function_;
  Emitter emit_;
  Emitter* current_ = &emit_;  // the block layers append to (a cond branch's inside a branch)
  int branch_depth_ = 0;
  int64_t layer_count_ = 0;
  static constexpr int kMaxBranchDepth = 32;
  std::unordered_map<std::string, Blob> blobs_;
  std::set<std::string> renamed_;
  std::set<std::string> reshaped_;
  std::set<std::string> defined_names_;
};

}  // namespace

mil::Program translate_neural_network(const spec::Model& model, const std::string& source) {
  return Translator(model, source).run();
}

}  // namespace coreml::format
