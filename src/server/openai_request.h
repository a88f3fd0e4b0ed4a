// OpenAI-style request bodies (chat completions, completions, tokenize, detokenize) parsed and
// checked into plain structs. Every body comes from the network: the parsers bound the nesting
// depth and the sizes, check every field's type and range, and throw ApiError (400) naming the
// field. Unknown fields are ignored, as OpenAI-compatible servers commonly do, so that clients
// sending extras (user, metadata, ...) keep working.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coreml/llm/sampling.h"

namespace coreml::server {

// Fields shared by /v1/chat/completions and /v1/completions.
struct GenerationRequest {
  std::string model;  // empty when not given
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::optional<int> max_tokens;
  llm::SamplingParams sampling;
  std::vector<std::string> stop;
  bool truncate = false;    // a prompt longer than the context keeps its tail instead of a 400
  bool ignore_eos = false;  // generate past end-of-sequence tokens (llama-server's extension)
};

struct ChatRequest : GenerationRequest {
  nlohmann::ordered_json messages;  // roles checked, content flattened to text
  nlohmann::ordered_json tools;     // null when absent (or tool_choice is "none")
  // chat_template_kwargs: extra template variables (e.g. enable_thinking).
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();
};

struct CompletionRequest : GenerationRequest {
  std::optional<std::string> prompt_text;  // a string prompt, or
  std::vector<int32_t> prompt_ids;         // a prompt given as token ids
};

struct TokenizeRequest {
  std::optional<std::string> content;  // plain text, or
  nlohmann::ordered_json messages;     // a conversation rendered by the chat template
  bool add_special = false;            // add_special (llama-server's name)
  bool with_pieces = false;            // also return each token's text
};

struct DetokenizeRequest {
  std::vector<int32_t> tokens;
};

// Limits of one request.
inline constexpr int kMaxJsonDepth = 64;
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopBytes = 512;
inline constexpr int kMaxTokensLimit = 1 << 20;

// Parses a JSON object body; 400 "invalid_json" with the parser's position when it is not one.
nlohmann::ordered_json parse_json_body(std::string_view body);

ChatRequest parse_chat_request(std::string_view body);
CompletionRequest parse_completion_request(std::string_view body);
TokenizeRequest parse_tokenize_request(std::string_view body);
DetokenizeRequest parse_detokenize_request(std::string_view body);

}  // namespace coreml::server
