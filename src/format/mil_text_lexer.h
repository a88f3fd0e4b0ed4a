// Tokenizer for `model.mil` text. Tokens are produced on demand (with a few tokens of
// lookahead) so that the first error in file order is the one reported, and so that a
// malformed tail never costs more than the bytes it spans.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace coreml::format {

enum class TokenKind : uint8_t {
  kIdentifier,  // [A-Za-z_][A-Za-z0-9_]*  (also `inf`, `nan`, `true`, `false`)
  kNumber,      // [+-]? decimal or C99 hex integer/float, or [+-](inf|nan|infinity)
  kString,      // "..." with escapes decoded into Token::string_value
  kPunct,       // one of ( ) [ ] { } < > , = ; ? : * and the arrow "->"
  kEnd,         // end of input
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string_view text;     // the token's bytes as written (empty at the end)
  std::string string_value;  // kString: the decoded contents
  uint32_t line = 1;
  uint32_t column = 1;

  bool is_punct(std::string_view p) const { return kind == TokenKind::kPunct && text == p; }
  bool is_identifier(std::string_view name) const {
    return kind == TokenKind::kIdentifier && text == name;
  }
};

// How a token reads in an error message ("'foo'", "string \"x\"", "end of file").
std::string describe(const Token& token);

class MilTextLexer {
 public:
  // Deeper nesting than this (types, literals, blocks) is rejected as malformed.
  static constexpr int kMaxDepth = 64;

  MilTextLexer(std::string_view text, std::string file_name);

  // The token `ahead` positions after the current one (0 = the next token to consume).
  const Token& peek(size_t ahead = 0);
  Token next();

  // Consumes the next token if it is the punctuation `p`.
  bool accept(std::string_view p);
  // Consumes punctuation `p` or fails with "expected `what`".
  Token expect(std::string_view p);
  // Consumes an identifier or fails with "expected `what`".
  Token expect_identifier(std::string_view what);

  // Throws coreml::Error(kParse): "FILE:LINE:COLUMN: expected WHAT, found TOKEN".
  [[noreturn]] void fail_expected(const Token& at, std::string_view what) const;
  // Throws coreml::Error(kParse): "FILE:LINE:COLUMN: MESSAGE".
  [[noreturn]] void fail_at(const Token& at, std::string_view message) const;

  // Nesting guard: construct one per recursive level; throws past kMaxDepth.
  class DepthGuard {
   public:
    DepthGuard(MilTextLexer& lexer, const Token& at);
    ~DepthGuard() { --lexer_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    MilTextLexer& lexer_;
  };

 private:
  Token scan();
  void skip_space_and_comments();
  Token scan_number(Token token);
  Token scan_string(Token token);
  [[noreturn]] void fail_here(uint32_t line, uint32_t column, std::string_view message) const;
  char current() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  char at(size_t offset) const {
    return pos_ + offset < text_.size() ? text_[pos_ + offset] : '\0';
  }
  void advance(size_t n = 1);

  std::string_view text_;
  std::string file_name_;
  size_t pos_ = 0;
  uint32_t line_ = 1;
  uint32_t column_ = 1;
  std::deque<Token> lookahead_;
  int depth_ = 0;
};

}  // namespace coreml::format
