// The one way coreml-cpp parses JSON from files and users: bounded nesting, so that no later
// recursive walk (nlohmann's copies and dumps, our converters) can overflow the stack, and
// errors that name where the text came from.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "coreml/export.h"

// Internal (not installed), but exported: coreml::llm and coreml::hub call it from their own
// libraries.
COREML_PUBLIC_BEGIN

namespace coreml::format {

// Deepest nesting of arrays and objects accepted in any JSON document. Real files (tokenizer
// configs, Manifest.json, conversations with tool calls) stay far below.
constexpr int kMaxJsonDepth = 256;

// Refuses (coreml::Error naming `origin`) text whose arrays/objects nest deeper than
// kMaxJsonDepth. Works on any text; brackets inside strings do not count.
void check_json_depth(std::string_view text, const std::string& origin);

// Parses `text` after check_json_depth; a syntax error is a coreml::Error (kParse) naming
// `origin` and what nlohmann found.
nlohmann::json parse_json(std::string_view text, const std::string& origin);
nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& origin);

}  // namespace coreml::format

COREML_PUBLIC_END
