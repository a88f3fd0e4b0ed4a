// Parsing `--input NAME=VALUE` into a FeatureValue, and writing values as JSON.
#include "feature_input.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "coreml/error.h"
#include "coreml/tensor.h"

namespace coreml::cli {
namespace {

// Dictionary inputs read from JSON are bounded so that a stray huge file is an error.
constexpr size_t kMaxJsonBytes = size_t{64} << 20;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string read_json_file(const std::string& name, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::kNotFound, "--input ", name, ": cannot open '", path, "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxJsonBytes) {
    fail(ErrorCode::kInvalidArgument, "--input ", name, ": '", path, "' is larger than ",
         kMaxJsonBytes, " bytes");
  }
  return text.str();
}

double parse_double(const std::string& name, const std::string& text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    fail(ErrorCode::kInvalidArgument, "--input ", name, "=", text,
         ": expected a number (the model declares a double)");
  }
  return v;
}

int64_t parse_int64(const std::string& name, const std::string& text) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    fail(ErrorCode::kInvalidArgument, "--input ", name, "=", text,
         ": expected an integer (the model declares an int64)");
  }
  return v;
}

FeatureValue from_json(const std::string& name, const nlohmann::json& j,
                       const FeatureDescription* declared, const std::string& where) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer() && !(declared && declared->kind == FeatureKind::kDouble)) {
    return j.get<int64_t>();
  }
  if (j.is_number()) return j.get<double>();
  if (!j.is_object()) {
    fail(ErrorCode::kInvalidArgument, "--input ", name, ": ", where,
         " holds neither a number, a string nor an object");
  }
  const bool int_keys =
      declared && declared->kind == FeatureKind::kDictionary && declared->key_type == "int64";
  StringDictionary strings;
  Int64Dictionary ints;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_number()) {
      fail(ErrorCode::kInvalidArgument, "--input ", name, ": ", where, ": entry \"", key,
           "\" is not a number (dictionary values are doubles)");
    }
    if (int_keys) {
      ints[parse_int64(name, key)] = value.get<double>();
    } else {
      strings[key] = value.get<double>();
    }
  }
  if (int_keys) return ints;
  return strings;
}

}  // namespace

FeatureValue parse_feature_input(const std::string& name, const std::string& value,
                                 const FeatureDescription* declared) {
  if (ends_with(value, ".npy")) return load_npy(value);
  if (value.size() > 1 && value[0] == '@') {
    const std::string path = value.substr(1);
    const std::string text = read_json_file(name, path);
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) fail(ErrorCode::kParse, "--input ", name, ": '", path, "' is not JSON");
    return from_json(name, j, declared, "'" + path + "'");
  }
  const FeatureKind kind = declared ? declared->kind : FeatureKind::kString;
  switch (kind) {
    case FeatureKind::kDouble: return parse_double(name, value);
    case FeatureKind::kInt64: return parse_int64(name, value);
    case FeatureKind::kDictionary: {
      const auto j = nlohmann::json::parse(value, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        fail(ErrorCode::kInvalidArgument, "--input ", name,
             ": a dictionary is given as a JSON object, inline or as @FILE.json");
      }
      return from_json(name, j, declared, "the value");
    }
    case FeatureKind::kString: return value;
    default:
      fail(ErrorCode::kInvalidArgument, "--input ", name, "=", value, ": the model declares a ",
           feature_kind_name(kind), "; give it as FILE.npy");
  }
}

nlohmann::ordered_json feature_json(const FeatureValue& value) {
  switch (value.kind()) {
    case FeatureValue::Kind::kInt64: return value.as_int64();
    case FeatureValue::Kind::kDouble: return value.as_double();
    case FeatureValue::Kind::kString: return value.as_string();
    case FeatureValue::Kind::kStringDictionary: {
      nlohmann::ordered_json j = nlohmann::ordered_json::object();
      for (const auto& [k, v] : value.as_string_dictionary()) j[k] = v;
      return j;
    }
    case FeatureValue::Kind::kInt64Dictionary: {
      nlohmann::ordered_json j = nlohmann::ordered_json::object();
      for (const auto& [k, v] : value.as_int64_dictionary()) j[std::to_string(k)] = v;
      return j;
    }
    case FeatureValue::Kind::kTensor: break;
  }
  return nullptr;
}

}  // namespace coreml::cli
