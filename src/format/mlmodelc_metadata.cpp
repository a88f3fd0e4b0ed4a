#include "format/mlmodelc_metadata.h"

#include <nlohmann/json.hpp>

#include "coreml/error.h"
#include "format/json_util.h"
#include "format/shape_text.h"

namespace coreml::format {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& source, const std::string& where,
                      const std::string& what) {
  fail(ErrorCode::kParse, source, ": ", where, ": ", what);
}

std::string string_field(const json& object, const char* key, const std::string& source,
                         const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  bad(source, where + "." + key, "expected a string");
}

bool flag_field(const json& object, const char* key, const std::string& source,
                const std::string& where) {
  const std::string text = string_field(object, key, source, where);
  return text == "1" || text == "true";
}

// metadata.json spells element types "Float16", "Float32", "Double", "Int32", ...
std::string mil_dtype(const std::string& name, const std::string& source,
                      const std::string& where) {
  static const std::pair<const char*, const char*> kNames[] = {
      {"Float16", "fp16"},  {"Float32", "fp32"}, {"Float64", "fp64"},  {"Double", "fp64"},
      {"Int32", "int32"},   {"Int8", "int8"},    {"Int16", "int16"},   {"UInt8", "uint8"},
      {"UInt16", "uint16"}, {"Int64", "int64"},  {"BFloat16", "bf16"},
  };
  if (name.empty()) return {};
  for (const auto& [text, mil] : kNames) {
    if (name == text) return mil;
  }
  bad(source, where + ".dataType", "unknown data type \"" + name + "\"");
}

FeatureKind kind_of(const std::string& type, const std::string& source, const std::string& where) {
  static const std::pair<const char*, FeatureKind> kKinds[] = {
      {"MultiArray", FeatureKind::kTensor},     {"State", FeatureKind::kState},
      {"Image", FeatureKind::kImage},           {"Int64", FeatureKind::kInt64},
      {"Double", FeatureKind::kDouble},         {"String", FeatureKind::kString},
      {"Dictionary", FeatureKind::kDictionary}, {"Sequence", FeatureKind::kSequence},
  };
  for (const auto& [text, kind] : kKinds) {
    if (type == text) return kind;
  }
  bad(source, where + ".type", "unknown feature type \"" + type + "\"");
}

std::string color_space_name(const std::string& text) {
  if (text == "Grayscale" || text == "GRAYSCALE") return "GRAYSCALE";
  if (text == "GrayscaleFloat16" || text == "GRAYSCALE_FLOAT16") return "GRAYSCALE_FLOAT16";
  return text;  // "RGB", "BGR"
}

FeatureDescription read_feature(const json& entry, const std::string& source,
                                const std::string& where) {
  if (!entry.is_object()) bad(source, where, "expected an object");
  FeatureDescription f;
  f.name = string_field(entry, "name", source, where);
  if (f.name.empty()) bad(source, where + ".name", "missing feature name");
  f.short_description = string_field(entry, "shortDescription", source, where);
  f.kind = kind_of(string_field(entry, "type", source, where), source, where);
  f.dtype = mil_dtype(string_field(entry, "dataType", source, where), source, where);
  f.optional = flag_field(entry, "isOptional", source, where);
  const std::string shape = string_field(entry, "shape", source, where);
  if (!shape.empty()) f.shape = parse_shape_list(shape, source + ": " + where + ".shape");
  const std::string enumerated = string_field(entry, "enumeratedShapes", source, where);
  if (!enumerated.empty()) {
    f.enumerated_shapes =
        parse_shape_lists(enumerated, source + ": " + where + ".enumeratedShapes");
  }
  const std::string ranges = string_field(entry, "shapeRange", source, where);
  if (!ranges.empty()) {
    for (const auto& pair : parse_shape_lists(ranges, source + ": " + where + ".shapeRange")) {
      if (pair.size() != 2) bad(source, where + ".shapeRange", "expected [lower, upper] pairs");
      f.shape_ranges.push_back({pair[0], pair[1]});
    }
  }
  if (f.kind == FeatureKind::kImage) {
    const auto number = [&](const char* key) -> int64_t {
      const std::string text = string_field(entry, key, source, where);
      if (text.empty()) return 0;
      const auto parsed = parse_shape_list("[" + text + "]", source + ": " + where + "." + key);
      return parsed.empty() ? 0 : parsed.front();
    };
    f.width = number("width");
    f.height = number("height");
    f.color_space = color_space_name(string_field(entry, "colorspace", source, where));
  }
  return f;
}

std::vector<FeatureDescription> read_features(const json& object, const char* key,
                                              const std::string& source, const std::string& where) {
  std::vector<FeatureDescription> features;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return features;
  if (!it->is_array()) bad(source, where + "." + key, "expected an array");
  for (size_t i = 0; i < it->size(); ++i) {
    features.push_back(
        read_feature((*it)[i], source, where + "." + key + "[" + std::to_string(i) + "]"));
  }
  return features;
}

FunctionDescription read_function(const json& object, const std::string& name,
                                  const std::string& source, const std::string& where) {
  FunctionDescription f;
  f.name = name;
  f.inputs = read_features(object, "inputSchema", source, where);
  f.outputs = read_features(object, "outputSchema", source, where);
  f.states = read_features(object, "stateSchema", source, where);
  return f;
}

const json& root_object(const json& doc, const std::string& source) {
  if (doc.is_array()) {
    if (doc.empty() || !doc[0].is_object())
      bad(source, "[0]", "expected an array holding one object");
    return doc[0];
  }
  if (doc.is_object()) return doc;
  bad(source, "top level", "expected a JSON array holding one object");
}

}  // namespace

std::string compiled_model_type(std::string_view json_text) {
  try {
    check_json_depth(json_text, "metadata.json");
    const json doc = json::parse(json_text.begin(), json_text.end());
    const json& root = doc.is_array() && !doc.empty() ? doc[0] : doc;
    const std::string name = root.at("modelType").at("name").get<std::string>();
    const std::string prefix = "MLModelType_";
    return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
  } catch (const json::exception&) {
    return {};
  } catch (const Error&) {
    return {};  // too deeply nested: no type to report
  }
}

ModelDescription read_compiled_metadata(std::string_view json_text, const std::string& source) {
  const json doc = parse_json(json_text, source);
  const json& root = root_object(doc, source);
  ModelDescription d;
  if (const auto it = root.find("specificationVersion"); it != root.end()) {
    if (!it->is_number_integer()) bad(source, "specificationVersion", "expected an integer");
    d.specification_version = it->get<int>();
  }
  const std::string type = compiled_model_type(json_text);
  if (!type.empty()) d.model_type = type;
  d.compute_precision = string_field(root, "computePrecision", source, "");
  d.metadata.author = string_field(root, "author", source, "");
  d.metadata.license = string_field(root, "license", source, "");
  d.metadata.version = string_field(root, "version", source, "");
  d.metadata.description = string_field(root, "shortDescription", source, "");
  if (const auto it = root.find("userDefinedMetadata"); it != root.end() && !it->is_null()) {
    if (!it->is_object()) bad(source, "userDefinedMetadata", "expected an object");
    for (const auto& [key, value] : it->items()) {
      d.metadata.user[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  if (const auto it = root.find("functions"); it != root.end() && !it->is_null()) {
    if (!it->is_array()) bad(source, "functions", "expected an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& entry = (*it)[i];
      const std::string where = "functions[" + std::to_string(i) + "]";
      if (!entry.is_object()) bad(source, where, "expected an object");
      const std::string name = string_field(entry, "name", source, where);
      if (name.empty()) bad(source, where + ".name", "missing function name");
      d.functions.push_back(read_function(entry, name, source, where));
    }
    d.default_function = string_field(root, "defaultFunctionName", source, "");
  } else {
    d.functions.push_back(read_function(root, "main", source, ""));
  }
  return d;
}

}  // namespace coreml::format
