#include "format/json_util.h"

#include "coreml/error.h"

namespace coreml::format {
namespace {

template <typename Json>
Json parse(std::string_view text, const std::string& origin) {
  check_json_depth(text, origin);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorCode::kParse, origin, ": invalid JSON: ", e.what());
  }
}

}  // namespace

void check_json_depth(std::string_view text, const std::string& origin) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  size_t line = 1;
  for (char c : text) {
    if (c == '\n') ++line;
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        fail(ErrorCode::kParse, origin, ": line ", line, ": JSON nested deeper than ",
             kMaxJsonDepth, " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

nlohmann::json parse_json(std::string_view text, const std::string& origin) {
  return parse<nlohmann::json>(text, origin);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& origin) {
  return parse<nlohmann::ordered_json>(text, origin);
}

}  // namespace coreml::format
