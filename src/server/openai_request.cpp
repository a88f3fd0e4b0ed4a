// Parsing and checking of OpenAI-style request bodies (see openai_request.h).
#include "openai_request.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "api_error.h"

namespace coreml::server {
namespace {

using Json = nlohmann::ordered_json;

const char* type_name(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

[[noreturn]] void wrong_type(const std::string& field, const char* expected, const Json& got) {
  invalid_field(field, std::string("must be ") + expected + ", got " + type_name(got),
                "invalid_type");
}

// Deeper nesting than any request needs is refused before parsing, so that neither the parser
// nor the destruction of the parsed value can run deep.
void check_depth(std::string_view body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
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
        throw ApiError(
            400, "invalid_json",
            "request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

// A field's value; null counts as absent (several clients send null for "unset").
const Json* field(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> get_bool(const Json& body, const char* name) {
  const Json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(name, "a boolean", *v);
  return v->get<bool>();
}

std::optional<double> get_number(const Json& body, const char* name, double low, double high) {
  const Json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(name, "a number", *v);
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < low || x > high) {
    std::ostringstream range;
    range << "must be between " << low << " and " << high << ", got " << x;
    invalid_field(name, range.str());
  }
  return x;
}

std::optional<int64_t> get_integer(const Json& body, const char* name, int64_t low, int64_t high) {
  const Json* v = field(body, name);
  if (!v) return std::nullopt;
  // The parser stores non-negative integers as unsigned; anything above int64 is out of range.
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(high)) {
    invalid_field(name, "must be at most " + std::to_string(high));
  }
  if (!v->is_number_integer()) wrong_type(name, "an integer", *v);
  const int64_t x = v->get<int64_t>();
  if (x < low || x > high) {
    invalid_field(name, "must be between " + std::to_string(low) + " and " + std::to_string(high) +
                            ", got " + std::to_string(x));
  }
  return x;
}

std::optional<std::string> get_string(const Json& body, const char* name) {
  const Json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(name, "a string", *v);
  return v->get<std::string>();
}

std::vector<int32_t> token_list(const Json& value, const std::string& name) {
  if (!value.is_array()) wrong_type(name, "an array of token ids", value);
  std::vector<int32_t> ids;
  ids.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const Json& id = value[i];
    const std::string where = name + "[" + std::to_string(i) + "]";
    if (!id.is_number_integer()) wrong_type(where, "a token id (an integer)", id);
    const int64_t x = id.get<int64_t>();
    if (x < 0 || x > std::numeric_limits<int32_t>::max()) {
      invalid_field(where, "is not a token id: " + std::to_string(x));
    }
    ids.push_back(static_cast<int32_t>(x));
  }
  return ids;
}

void parse_generation_fields(const Json& body, GenerationRequest& out) {
  if (auto model = get_string(body, "model")) out.model = *model;
  out.stream = get_bool(body, "stream").value_or(false);
  if (const Json* options = field(body, "stream_options")) {
    if (!options->is_object()) wrong_type("stream_options", "an object", *options);
    out.include_usage = get_bool(*options, "include_usage").value_or(false);
  }
  // max_completion_tokens is the newer name; both given → the newer wins.
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (auto n = get_integer(body, name, 1, kMaxTokensLimit)) out.max_tokens = static_cast<int>(*n);
  }
  if (auto n = get_integer(body, "n", 1, std::numeric_limits<int64_t>::max()); n && *n != 1) {
    invalid_field("n", "must be 1: this server returns one choice per request");
  }
  auto& s = out.sampling;
  if (auto x = get_number(body, "temperature", 0, 2)) s.temperature = static_cast<float>(*x);
  if (auto x = get_number(body, "top_p", 0, 1)) s.top_p = static_cast<float>(*x);
  if (auto x = get_number(body, "min_p", 0, 1)) s.min_p = static_cast<float>(*x);
  if (auto x = get_integer(body, "top_k", 0, std::numeric_limits<int32_t>::max())) {
    s.top_k = static_cast<int>(*x);
  }
  if (auto x = get_number(body, "presence_penalty", -2, 2)) {
    s.presence_penalty = static_cast<float>(*x);
  }
  if (auto x = get_number(body, "frequency_penalty", -2, 2)) {
    s.frequency_penalty = static_cast<float>(*x);
  }
  if (auto x = get_number(body, "repetition_penalty", 0.01, 100)) {
    s.repetition_penalty = static_cast<float>(*x);
  }
  if (const Json* seed = field(body, "seed")) {
    // Any 64-bit integer; negative seeds wrap (two's complement) as in most clients' RNGs.
    if (seed->is_number_unsigned()) {
      s.seed = seed->get<uint64_t>();
    } else if (seed->is_number_integer()) {
      s.seed = static_cast<uint64_t>(seed->get<int64_t>());
    } else {
      wrong_type("seed", "an integer", *seed);
    }
  }
  if (const Json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      out.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > kMaxStopStrings) {
        invalid_field("stop", "holds " + std::to_string(stop->size()) + " strings; at most " +
                                  std::to_string(kMaxStopStrings) + " are allowed");
      }
      for (size_t i = 0; i < stop->size(); ++i) {
        const Json& item = (*stop)[i];
        if (!item.is_string()) wrong_type("stop[" + std::to_string(i) + "]", "a string", item);
        out.stop.push_back(item.get<std::string>());
      }
    } else {
      wrong_type("stop", "a string or an array of strings", *stop);
    }
    for (const auto& text : out.stop) {
      if (text.size() > kMaxStopBytes) {
        invalid_field("stop",
                      "strings must be at most " + std::to_string(kMaxStopBytes) + " bytes long");
      }
    }
  }
  if (get_bool(body, "logprobs").value_or(false) || field(body, "top_logprobs")) {
    invalid_field("logprobs", "is not supported by this server", "unsupported_parameter");
  }
  if (const Json* format = field(body, "response_format")) {
    if (!format->is_object()) wrong_type("response_format", "an object", *format);
    if (get_string(*format, "type").value_or("text") != "text") {
      invalid_field("response_format",
                    "must be {\"type\": \"text\"}: structured output is not "
                    "supported",
                    "unsupported_parameter");
    }
  }
  out.truncate = get_bool(body, "truncate").value_or(false);
  out.ignore_eos = get_bool(body, "ignore_eos").value_or(false);
}

// A message's content as text: a string, null (an assistant turn with only tool calls), or an
// array of {"type": "text", "text": ...} parts, joined.
Json message_content(const Json& content, const std::string& where) {
  if (content.is_null() || content.is_string()) return content;
  if (!content.is_array()) wrong_type(where, "a string or an array of content parts", content);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string part_where = where + "[" + std::to_string(i) + "]";
    if (!part.is_object()) wrong_type(part_where, "an object", part);
    const auto type = get_string(part, "type");
    if (type != "text") {
      invalid_field(part_where,
                    "has type '" + type.value_or("") + "'; only text parts are supported",
                    "unsupported_content");
    }
    const auto part_text = get_string(part, "text");
    if (!part_text)
      invalid_field(part_where + ".text", "is required", "missing_required_parameter");
    text += *part_text;
  }
  return text;
}

Json checked_messages(const Json& body, const char* name) {
  const Json* messages = field(body, name);
  if (!messages) invalid_field(name, "is required", "missing_required_parameter");
  if (!messages->is_array()) wrong_type(name, "an array", *messages);
  if (messages->empty()) invalid_field(name, "must hold at least one message");
  Json out = Json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    const std::string where = std::string(name) + "[" + std::to_string(i) + "]";
    const Json& message = (*messages)[i];
    if (!message.is_object()) wrong_type(where, "an object", message);
    const auto role = get_string(message, "role");
    if (!role) invalid_field(where + ".role", "is required", "missing_required_parameter");
    Json copy = message;
    // OpenAI's newer name for system instructions; chat templates know "system".
    if (*role == "developer") {
      copy["role"] = "system";
    } else if (*role != "system" && *role != "user" && *role != "assistant" && *role != "tool") {
      invalid_field(where + ".role",
                    "must be one of system, developer, user, assistant, tool; got '" + *role + "'");
    }
    auto content = message.find("content");
    if (content == message.end()) {
      if (*role != "assistant") {
        invalid_field(where + ".content", "is required", "missing_required_parameter");
      }
      copy["content"] = nullptr;
    } else {
      copy["content"] = message_content(*content, where + ".content");
    }
    if (const Json* calls = field(message, "tool_calls"); calls && !calls->is_array()) {
      wrong_type(where + ".tool_calls", "an array", *calls);
    }
    out.push_back(std::move(copy));
  }
  return out;
}

}  // namespace

Json parse_json_body(std::string_view body) {
  check_depth(body);
  Json parsed;
  try {
    parsed = Json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {
    // The parser's message names the byte position of the first error.
    throw ApiError(400, "invalid_json",
                   std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!parsed.is_object()) {
    throw ApiError(400, "invalid_json",
                   std::string("the request body must be a JSON object, got ") + type_name(parsed));
  }
  return parsed;
}

ChatRequest parse_chat_request(std::string_view text) {
  const Json body = parse_json_body(text);
  ChatRequest request;
  parse_generation_fields(body, request);
  request.messages = checked_messages(body, "messages");
  if (const Json* tools = field(body, "tools")) {
    if (!tools->is_array()) wrong_type("tools", "an array", *tools);
    for (size_t i = 0; i < tools->size(); ++i) {
      if (!(*tools)[i].is_object()) {
        wrong_type("tools[" + std::to_string(i) + "]", "an object", (*tools)[i]);
      }
    }
    if (!tools->empty()) request.tools = *tools;
  }
  if (const Json* choice = field(body, "tool_choice")) {
    if (!choice->is_string() && !choice->is_object()) {
      wrong_type("tool_choice", "a string or an object", *choice);
    }
    if (choice->is_string() && *choice != "none" && *choice != "auto" && *choice != "required") {
      invalid_field("tool_choice", "must be none, auto, required or an object");
    }
    // "none": the model must not call tools, so the template does not offer them.
    if (*choice == "none") request.tools = nullptr;
  }
  if (const Json* kwargs = field(body, "chat_template_kwargs")) {
    if (!kwargs->is_object()) wrong_type("chat_template_kwargs", "an object", *kwargs);
    request.template_kwargs = *kwargs;
  }
  return request;
}

CompletionRequest parse_completion_request(std::string_view text) {
  const Json body = parse_json_body(text);
  CompletionRequest request;
  parse_generation_fields(body, request);
  const Json* prompt = field(body, "prompt");
  if (!prompt) invalid_field("prompt", "is required", "missing_required_parameter");
  // A string, a list of token ids, or a list holding one string or one list of ids (n=1).
  const Json* single = prompt;
  if (prompt->is_array() && prompt->size() == 1 && !(*prompt)[0].is_number())
    single = &(*prompt)[0];
  if (single->is_string()) {
    request.prompt_text = single->get<std::string>();
  } else if (single->is_array()) {
    request.prompt_ids = token_list(*single, "prompt");
  } else {
    wrong_type("prompt", "a string or an array of token ids", *prompt);
  }
  if (get_bool(body, "echo").value_or(false)) {
    invalid_field("echo", "is not supported by this server", "unsupported_parameter");
  }
  if (field(body, "suffix")) {
    invalid_field("suffix", "is not supported by this server", "unsupported_parameter");
  }
  if (auto n = get_integer(body, "best_of", 1, std::numeric_limits<int64_t>::max()); n && *n != 1) {
    invalid_field("best_of", "must be 1");
  }
  return request;
}

TokenizeRequest parse_tokenize_request(std::string_view text) {
  const Json body = parse_json_body(text);
  TokenizeRequest request;
  request.content = get_string(body, "content");
  if (field(body, "messages")) request.messages = checked_messages(body, "messages");
  if (!request.content && request.messages.is_null()) {
    invalid_field("content", "is required (or 'messages')", "missing_required_parameter");
  }
  request.add_special = get_bool(body, "add_special").value_or(false);
  request.with_pieces = get_bool(body, "with_pieces").value_or(false);
  return request;
}

DetokenizeRequest parse_detokenize_request(std::string_view text) {
  const Json body = parse_json_body(text);
  const Json* tokens = field(body, "tokens");
  if (!tokens) invalid_field("tokens", "is required", "missing_required_parameter");
  return {token_list(*tokens, "tokens")};
}

}  // namespace coreml::server
