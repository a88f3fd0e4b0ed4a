#include "format/mil_text_lexer.h"

#include <cstdio>
#include <utility>

#include "coreml/error.h"

namespace coreml::format {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_identifier_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_identifier_char(char c) { return is_identifier_start(c) || is_digit(c); }

// Shows at most this many bytes of a token in an error message.
constexpr size_t kMaxShownToken = 40;

std::string shown(std::string_view text) {
  if (text.size() <= kMaxShownToken) return std::string(text);
  return std::string(text.substr(0, kMaxShownToken)) + "...";
}

std::string byte_name(unsigned char c) {
  if (c >= 0x20 && c < 0x7f) return detail::cat("'", static_cast<char>(c), "'");
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", c);
  return detail::cat("byte ", hex);
}

}  // namespace

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::kEnd: return "end of file";
    case TokenKind::kString: return detail::cat("string \"", shown(token.string_value), "\"");
    case TokenKind::kNumber: return detail::cat("number ", shown(token.text));
    default: return detail::cat("'", shown(token.text), "'");
  }
}

MilTextLexer::MilTextLexer(std::string_view text, std::string file_name)
    : text_(text), file_name_(std::move(file_name)) {}

const Token& MilTextLexer::peek(size_t ahead) {
  while (lookahead_.size() <= ahead) lookahead_.push_back(scan());
  return lookahead_[ahead];
}

Token MilTextLexer::next() {
  peek();
  Token token = std::move(lookahead_.front());
  lookahead_.pop_front();
  return token;
}

bool MilTextLexer::accept(std::string_view p) {
  if (!peek().is_punct(p)) return false;
  next();
  return true;
}

Token MilTextLexer::expect(std::string_view p) {
  if (!peek().is_punct(p)) fail_expected(peek(), detail::cat("'", p, "'"));
  return next();
}

Token MilTextLexer::expect_identifier(std::string_view what) {
  if (peek().kind != TokenKind::kIdentifier) fail_expected(peek(), what);
  return next();
}

void MilTextLexer::fail_expected(const Token& at, std::string_view what) const {
  fail_here(at.line, at.column, detail::cat("expected ", what, ", found ", describe(at)));
}

void MilTextLexer::fail_at(const Token& at, std::string_view message) const {
  fail_here(at.line, at.column, message);
}

void MilTextLexer::fail_here(uint32_t line, uint32_t column, std::string_view message) const {
  fail(ErrorCode::kParse, file_name_, ":", line, ":", column, ": ", message);
}

MilTextLexer::DepthGuard::DepthGuard(MilTextLexer& lexer, const Token& at) : lexer_(lexer) {
  if (++lexer_.depth_ > kMaxDepth) {
    --lexer_.depth_;
    lexer_.fail_at(at, detail::cat("nesting deeper than ", kMaxDepth, " levels"));
  }
}

void MilTextLexer::advance(size_t n) {
  for (size_t i = 0; i < n && pos_ < text_.size(); ++i) {
    if (text_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }
}

void MilTextLexer::skip_space_and_comments() {
  for (;;) {
    const char c = current();
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      advance();
    } else if (c == '/' && at(1) == '/') {
      while (pos_ < text_.size() && current() != '\n') advance();
    } else if (c == '/' && at(1) == '*') {
      const uint32_t line = line_, column = column_;
      advance(2);
      for (;;) {
        if (pos_ >= text_.size()) fail_here(line, column, "unterminated /* comment");
        if (current() == '*' && at(1) == '/') break;
        advance();
      }
      advance(2);
    } else {
      return;
    }
  }
}

Token MilTextLexer::scan() {
  skip_space_and_comments();
  Token token;
  token.line = line_;
  token.column = column_;
  if (pos_ >= text_.size()) return token;  // kEnd
  const size_t start = pos_;
  const char c = current();
  if (is_identifier_start(c)) {
    while (is_identifier_char(current())) advance();
    token.kind = TokenKind::kIdentifier;
    token.text = text_.substr(start, pos_ - start);
    return token;
  }
  if (is_digit(c) || ((c == '-' || c == '+') && (is_digit(at(1)) || is_identifier_start(at(1))))) {
    return scan_number(std::move(token));
  }
  if (c == '"') return scan_string(std::move(token));
  if (c == '-' && at(1) == '>') {
    advance(2);
    token.kind = TokenKind::kPunct;
    token.text = text_.substr(start, 2);
    return token;
  }
  static constexpr std::string_view kPunctuation = "()[]{}<>,=;?:*";
  if (kPunctuation.find(c) != std::string_view::npos) {
    advance();
    token.kind = TokenKind::kPunct;
    token.text = text_.substr(start, 1);
    return token;
  }
  fail_here(line_, column_,
            detail::cat("expected a token, found ", byte_name(static_cast<unsigned char>(c))));
}

// Numbers keep their spelling; the parser converts them once it knows the element type.
Token MilTextLexer::scan_number(Token token) {
  const size_t start = pos_;
  if (current() == '-' || current() == '+') advance();
  if (is_identifier_start(current())) {  // signed inf / nan
    const size_t word = pos_;
    while (is_identifier_char(current())) advance();
    const std::string_view name = text_.substr(word, pos_ - word);
    if (name != "inf" && name != "nan" && name != "infinity") {
      fail_here(
          token.line, token.column,
          detail::cat("expected a number, found '", shown(text_.substr(start, pos_ - start)), "'"));
    }
  } else if (current() == '0' && (at(1) == 'x' || at(1) == 'X')) {
    advance(2);
    while (is_hex_digit(current())) advance();
    if (current() == '.') advance();
    while (is_hex_digit(current())) advance();
    if (current() == 'p' || current() == 'P') {
      advance();
      if (current() == '+' || current() == '-') advance();
      while (is_digit(current())) advance();
    }
  } else {
    while (is_digit(current())) advance();
    if (current() == '.') advance();
    while (is_digit(current())) advance();
    if (current() == 'e' || current() == 'E') {
      advance();
      if (current() == '+' || current() == '-') advance();
      while (is_digit(current())) advance();
    }
  }
  if (is_identifier_char(current()) || current() == '.') {
    while (is_identifier_char(current()) || current() == '.') advance();
    fail_here(
        token.line, token.column,
        detail::cat("expected a number, found '", shown(text_.substr(start, pos_ - start)), "'"));
  }
  token.kind = TokenKind::kNumber;
  token.text = text_.substr(start, pos_ - start);
  return token;
}

Token MilTextLexer::scan_string(Token token) {
  const size_t start = pos_;
  advance();  // opening quote
  std::string value;
  for (;;) {
    if (pos_ >= text_.size() || current() == '\n') {
      fail_here(token.line, token.column, "unterminated string");
    }
    const char c = current();
    if (c == '"') break;
    if (c != '\\') {
      value.push_back(c);
      advance();
      continue;
    }
    const uint32_t escape_line = line_, escape_column = column_;
    advance();
    const char e = current();
    switch (e) {
      case '"': value.push_back('"'); break;
      case '\\': value.push_back('\\'); break;
      case '\'': value.push_back('\''); break;
      case '/': value.push_back('/'); break;
      case 'n': value.push_back('\n'); break;
      case 't': value.push_back('\t'); break;
      case 'r': value.push_back('\r'); break;
      case '0': value.push_back('\0'); break;
      case 'x': {
        if (!is_hex_digit(at(1)) || !is_hex_digit(at(2))) {
          fail_here(escape_line, escape_column, "expected two hex digits after \\x");
        }
        const auto nibble = [](char h) { return is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10; };
        value.push_back(static_cast<char>(nibble(at(1)) * 16 + nibble(at(2))));
        advance(2);
        break;
      }
      default:
        if (pos_ >= text_.size()) fail_here(token.line, token.column, "unterminated string");
        fail_here(escape_line, escape_column,
                  detail::cat("expected a string escape, found ",
                              byte_name(static_cast<unsigned char>(e))));
    }
    advance();
  }
  advance();  // closing quote
  token.kind = TokenKind::kString;
  token.text = text_.substr(start, pos_ - start);
  token.string_value = std::move(value);
  return token;
}

}  // namespace coreml::format
