// The protobuf model description (features, functions, metadata) -> coreml::ModelDescription.
#include "format/mlmodel_description.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>

#include "coreml/error.h"

namespace coreml::format::detail {
namespace {

// ArrayFeatureType.ArrayDataType codes (coremltools 9.0, FeatureTypes_pb2) -> MIL names.
constexpr std::array<std::pair<int, std::string_view>, 5> kArrayDataTypes{{
    {65568, "fp32"},
    {65600, "fp64"},
    {65552, "fp16"},
    {131104, "int32"},
    {131080, "int8"},
}};

// ImageFeatureType.ColorSpace codes (coremltools 9.0, FeatureTypes_pb2).
constexpr std::array<std::pair<int, std::string_view>, 4> kColorSpaces{{
    {10, "GRAYSCALE"},
    {20, "RGB"},
    {30, "BGR"},
    {40, "GRAYSCALE_FLOAT16"},
}};

template <size_t N>
std::string name_of_code(const std::array<std::pair<int, std::string_view>, N>& table, int code,
                         const char* what, const std::string& where) {
  if (code == 0) return {};  // the schema's INVALID_* default: not declared
  for (const auto& [known, name] : table) {
    if (known == code) return std::string(name);
  }
  fail(ErrorCode::kUnsupported, where, ": unknown ", what, " code ", code);
}

int64_t lower_bound_of(const spec::SizeRange& range, const std::string& where) {
  if (range.lower_bound() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    fail(ErrorCode::kParse, where, ": size range lower bound ", range.lower_bound(),
         " is too large");
  }
  return static_cast<int64_t>(range.lower_bound());
}

DimRange convert_range(const spec::SizeRange& range, const std::string& where) {
  return DimRange{lower_bound_of(range, where), range.upper_bound() < 0 ? -1 : range.upper_bound()};
}

void fill_array(const spec::ArrayFeatureType& array, const std::string& where,
                FeatureDescription& out) {
  out.dtype = name_of_code(kArrayDataTypes, array.data_type(), "array data type", where);
  out.shape.assign(array.shape().begin(), array.shape().end());
  if (array.has_enumerated_shapes()) {
    for (const auto& shape : array.enumerated_shapes().shapes()) {
      out.enumerated_shapes.emplace_back(shape.shape().begin(), shape.shape().end());
    }
  }
  if (array.has_shape_range()) {
    for (const auto& range : array.shape_range().size_ranges()) {
      out.shape_ranges.push_back(convert_range(range, where));
    }
  }
}

// Image sizes are listed as (height, width), the order of an image tensor's last two axes.
void fill_image(const spec::ImageFeatureType& image, const std::string& where,
                FeatureDescription& out) {
  out.width = image.width();
  out.height = image.height();
  out.color_space = name_of_code(kColorSpaces, image.color_space(), "image color space", where);
  if (image.has_enumerated_sizes()) {
    for (const auto& size : image.enumerated_sizes().sizes()) {
      if (size.width() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          size.height() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(ErrorCode::kParse, where, ": enumerated image size is too large");
      }
      out.enumerated_shapes.push_back(
          {static_cast<int64_t>(size.height()), static_cast<int64_t>(size.width())});
    }
  }
  if (image.has_image_size_range()) {
    out.shape_ranges.push_back(convert_range(image.image_size_range().height_range(), where));
    out.shape_ranges.push_back(convert_range(image.image_size_range().width_range(), where));
  }
}

FeatureDescription convert_feature(const spec::FeatureDescription& proto, const char* role,
                                   const std::string& scope) {
  const std::string where = coreml::detail::cat(scope, role, " '", proto.name(), "'");
  FeatureDescription out;
  out.name = proto.name();
  out.short_description = proto.short_description();
  const spec::FeatureType& type = proto.type();
  out.optional = type.is_optional();
  switch (type.kind_case()) {
    case spec::FeatureType::kMultiArrayType:
      out.kind = FeatureKind::kTensor;
      fill_array(type.multi_array_type(), where, out);
      break;
    case spec::FeatureType::kStateType:
      out.kind = FeatureKind::kState;
      if (!type.state_type().has_array_type()) {
        fail(ErrorCode::kParse, where, ": state feature does not wrap an array type");
      }
      fill_array(type.state_type().array_type(), where, out);
      break;
    case spec::FeatureType::kImageType:
      out.kind = FeatureKind::kImage;
      fill_image(type.image_type(), where, out);
      break;
    case spec::FeatureType::kInt64Type: out.kind = FeatureKind::kInt64; break;
    case spec::FeatureType::kDoubleType: out.kind = FeatureKind::kDouble; break;
    case spec::FeatureType::kStringType: out.kind = FeatureKind::kString; break;
    case spec::FeatureType::kDictionaryType:
      out.kind = FeatureKind::kDictionary;
      out.key_type = type.dictionary_type().has_int64_key_type() ? "int64" : "string";
      break;
    case spec::FeatureType::kSequenceType:
      out.kind = FeatureKind::kSequence;
      out.key_type = type.sequence_type().has_int64_type() ? "int64" : "string";
      break;
    case spec::FeatureType::KIND_NOT_SET: fail(ErrorCode::kParse, where, ": feature has no type");
  }
  return out;
}

}  // namespace

std::vector<FeatureDescription> convert_features(
    const google::protobuf::RepeatedPtrField<spec::FeatureDescription>& proto, const char* role,
    const std::string& scope) {
  std::vector<FeatureDescription> out;
  out.reserve(static_cast<size_t>(proto.size()));
  for (const auto& feature : proto) out.push_back(convert_feature(feature, role, scope));
  return out;
}

ModelDescription convert_description(const spec::Model& model, const mil::Program& program,
                                     const std::string& source) {
  ModelDescription out;
  out.specification_version = model.specification_version();
  out.model_type = "mlProgram";
  const spec::ModelDescription& proto = model.description();
  if (!proto.functions().empty()) {
    for (const auto& function : proto.functions()) {
      const std::string scope = coreml::detail::cat(source, ": function ", function.name(), " ");
      FunctionDescription f;
      f.name = function.name();
      f.inputs = convert_features(function.input(), "input", scope);
      f.outputs = convert_features(function.output(), "output", scope);
      f.states = convert_features(function.state(), "state", scope);
      out.functions.push_back(std::move(f));
    }
    out.default_function = proto.default_function_name();
  } else {
    const std::string scope = coreml::detail::cat(source, ": ");
    FunctionDescription f;
    f.name = program.functions.size() == 1 ? program.functions.front().name : "main";
    f.inputs = convert_features(proto.input(), "input", scope);
    f.outputs = convert_features(proto.output(), "output", scope);
    f.states = convert_features(proto.state(), "state", scope);
    out.default_function = f.name;
    out.functions.push_back(std::move(f));
  }
  const spec::Metadata& metadata = proto.metadata();
  out.metadata.author = metadata.author();
  out.metadata.license = metadata.license();
  out.metadata.version = metadata.version_string();
  out.metadata.description = metadata.short_description();
  for (const auto& [key, value] : metadata.user_defined()) out.metadata.user.emplace(key, value);
  return out;
}

}  // namespace coreml::format::detail
