// Chat templates: renders a conversation into a prompt exactly as Hugging Face transformers'
// `apply_chat_template(..., tokenize=False)` does, with our own Jinja engine (the subset of
// jinja2 chat templates use, in the ImmutableSandboxedEnvironment transformers configures).
#pragma once

#include <ctime>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

namespace coreml::llm {

struct RenderOptions {
  nlohmann::ordered_json tools;      // null → the template sees `tools` as None
  nlohmann::ordered_json documents;  // null → None
  bool add_generation_prompt = false;
  // Other template variables (e.g. {"enable_thinking": false}); they override special tokens.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  // Time strftime_now() reports (formatted as UTC); unset → the current local time.
  std::optional<std::time_t> now;
};

class ChatTemplate {
 public:
  // Parses `template_text`; throws coreml::Error("chat template line N: ...") on bad syntax.
  static ChatTemplate from_string(const std::string& template_text);
  // `path_or_json` is a tokenizer_config.json path or its JSON text. Reads `chat_template` (a
  // string, or a list of {name, template} where "default" is chosen) and the special tokens.
  static ChatTemplate from_tokenizer_config(const std::string& path_or_json);
  // A model folder: chat_template.jinja wins over tokenizer_config.json's chat_template; the
  // special tokens still come from tokenizer_config.json when present.
  static ChatTemplate from_folder(const std::string& directory);

  // `messages` is a JSON array of {role, content, ...}. Throws coreml::Error on template errors;
  // a template's raise_exception(msg) surfaces as an Error whose message is exactly msg.
  std::string render(const nlohmann::ordered_json& messages,
                     const RenderOptions& options = {}) const;

  // Other named templates from a list-valued chat_template (e.g. "tool_use").
  std::vector<std::string> variant_names() const;
  ChatTemplate variant(const std::string& name) const;

  // Special tokens passed to the template (bos_token, eos_token, ...), unset ones absent.
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }
  const std::string& source() const { return source_; }

  ChatTemplate();
  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&);
  ChatTemplate& operator=(const ChatTemplate&);
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

 private:
  struct Program;
  std::string source_;
  std::shared_ptr<const Program> program_;
  nlohmann::ordered_json special_tokens_ = nlohmann::ordered_json::object();
  std::map<std::string, std::string> variants_;
};

}  // namespace coreml::llm

COREML_PUBLIC_END
