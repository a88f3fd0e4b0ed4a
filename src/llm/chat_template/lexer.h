// Splits template source into text and tag tokens, applying jinja2's whitespace control the way
// transformers configures it (trim_blocks and lstrip_blocks on, a final newline dropped).
#pragma once

#include <string>
#include <vector>

namespace coreml::llm::jinja {

enum class TokenType {
  kText,
  kPrintBegin,  // {{
  kPrintEnd,    // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEnd,
};

struct Token {
  TokenType type;
  std::string text;  // text, name, operator, or the unescaped string literal / number spelling
  int line;
};

// Throws coreml::Error("chat template line N: ...") on malformed source.
std::vector<Token> tokenize(const std::string& source);

}  // namespace coreml::llm::jinja
