#include "llm/chat_template/lexer.h"

#include <cctype>
#include <cstring>

#include "coreml/error.h"

namespace coreml::llm::jinja {
namespace {

[[noreturn]] void syntax_error(int line, const std::string& what) {
  fail(ErrorCode::kParse, "chat template line ", line, ": ", what);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string rstrip_all(const std::string& s) {
  size_t end = s.size();
  while (end > 0 && is_space(s[end - 1])) --end;
  return s.substr(0, end);
}

// lstrip_blocks: drop the spaces between the start of the line and a block or comment tag.
void lstrip_line(std::string& text, bool line_starting) {
  size_t line_start = text.rfind('\n');
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  if (line_start == 0 && !line_starting) return;
  for (size_t i = line_start; i < text.size(); ++i) {
    if (!is_space(text[i])) return;
  }
  text.resize(line_start);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(const std::string& source) : src_(source) {
    // jinja2 normalizes newlines and, without keep_trailing_newline, drops one final newline.
    std::string normalized;
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\r') {
        normalized += '\n';
        if (i + 1 < src_.size() && src_[i + 1] == '\n') ++i;
      } else {
        normalized += src_[i];
      }
    }
    if (!normalized.empty() && normalized.back() == '\n') normalized.pop_back();
    src_ = std::move(normalized);
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      std::string text = src_.substr(pos_, tag - pos_);
      if (tag == src_.size()) {
        emit_text(text);
        break;
      }
      char kind = src_[tag + 1];
      char modifier = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      bool lstrip = kind != '{' && modifier != '+';
      if (modifier == '-') {
        text = rstrip_all(text);
      } else if (lstrip) {
        if (kind == '%' && is_raw_tag(tag)) {
          lstrip_line(text, line_starting_);
        } else {
          lstrip_line(text, line_starting_);
        }
      }
      emit_text(text);
      count_lines(pos_, tag);
      pos_ = tag + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      if (kind == '#') {
        lex_comment();
      } else if (kind == '%' && is_raw_tag(tag)) {
        lex_raw();
      } else {
        lex_tag(kind == '{');
      }
    }
    tokens_.push_back({TokenType::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return src_.size();
  }

  void emit_text(const std::string& text) {
    if (!text.empty()) tokens_.push_back({TokenType::kText, text, text_line_});
  }

  void count_lines(size_t from, size_t to) {
    for (size_t i = from; i < to && i < src_.size(); ++i) line_ += src_[i] == '\n';
  }

  // After a tag closes: '-' strips all following whitespace; trim_blocks drops one newline.
  void after_tag_end(size_t end, bool minus, bool trim_newline) {
    size_t next = end;
    if (minus) {
      while (next < src_.size() && is_space(src_[next])) ++next;
    } else if (trim_newline && next < src_.size() && src_[next] == '\n') {
      ++next;
    }
    line_starting_ = next > end && src_[next - 1] == '\n';
    count_lines(pos_, next);
    pos_ = next;
    text_line_ = line_;
  }

  bool is_raw_tag(size_t tag) const {
    size_t i = tag + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    while (i < src_.size() && is_space(src_[i])) ++i;
    if (src_.compare(i, 3, "raw") != 0) return false;
    i += 3;
    while (i < src_.size() && is_space(src_[i])) ++i;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    return src_.compare(i, 2, "%}") == 0;
  }

  void lex_comment() {
    size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) syntax_error(line_, "missing end of comment tag");
    bool minus = end > pos_ && src_[end - 1] == '-';
    after_tag_end(end + 2, minus, !(end > pos_ && src_[end - 1] == '+'));
  }

  void lex_raw() {
    size_t close = src_.find("%}", pos_);
    bool minus = src_[close - 1] == '-';
    size_t body = close + 2;
    if (minus) {
      while (body < src_.size() && is_space(src_[body])) ++body;
    }
    // Find {% endraw %} (with optional whitespace control).
    size_t search = body;
    while (true) {
      size_t tag = src_.find("{%", search);
      if (tag == std::string::npos) syntax_error(line_, "missing end of raw directive");
      size_t i = tag + 2;
      char modifier = src_[i];
      if (modifier == '-' || modifier == '+') ++i;
      while (i < src_.size() && is_space(src_[i])) ++i;
      if (src_.compare(i, 6, "endraw") != 0) {
        search = tag + 2;
        continue;
      }
      i += 6;
      while (i < src_.size() && is_space(src_[i])) ++i;
      bool end_minus = i < src_.size() && src_[i] == '-';
      if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
      if (src_.compare(i, 2, "%}") != 0) {
        search = tag + 2;
        continue;
      }
      std::string text = src_.substr(body, tag - body);
      if (modifier == '-') {
        text = rstrip_all(text);
      } else if (modifier != '+') {
        lstrip_line(text, false);
      }
      count_lines(pos_, body);
      text_line_ = line_;
      emit_text(text);
      after_tag_end(i + 2, end_minus, true);
      return;
    }
  }

  void lex_tag(bool print) {
    int depth = 0;  // open brackets: an end marker inside them belongs to the expression
    tokens_.push_back({print ? TokenType::kPrintBegin : TokenType::kBlockBegin, "", line_});
    while (true) {
      if (pos_ >= src_.size()) {
        syntax_error(line_, print ? "unexpected end of template, expected '}}'"
                                  : "unexpected end of template, expected '%}'");
      }
      char c = src_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
        continue;
      }
      if (is_space(c)) {
        ++pos_;
        continue;
      }
      if (depth == 0) {
        const char* close = print ? "}}" : "%}";
        bool minus = c == '-' && src_.compare(pos_ + 1, 2, close) == 0;
        bool plus = c == '+' && !print && src_.compare(pos_ + 1, 2, close) == 0;
        if (minus || plus || src_.compare(pos_, 2, close) == 0) {
          tokens_.push_back({print ? TokenType::kPrintEnd : TokenType::kBlockEnd, "", line_});
          size_t end = pos_ + 2 + ((minus || plus) ? 1 : 0);
          pos_ = end;
          after_tag_end(end, minus, !print && !plus);
          return;
        }
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t start = pos_;
        while (pos_ < src_.size() &&
               (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) {
          ++pos_;
        }
        tokens_.push_back({TokenType::kName, src_.substr(start, pos_ - start), line_});
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number();
      } else if (c == '\'' || c == '"') {
        lex_string(c);
      } else {
        static const char* const kOperators[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                                 "/",  "%",  "~",  "<",  ">",  "=",  ".", ",", ":",
                                                 "|",  "(",  ")",  "[",  "]",  "{",  "}"};
        const char* match = nullptr;
        for (const char* op : kOperators) {
          if (src_.compare(pos_, std::strlen(op), op) == 0) {
            match = op;
            break;
          }
        }
        if (!match) syntax_error(line_, detail::cat("unexpected char '", c, "'"));
        std::string op = match;
        if (op == "(" || op == "[" || op == "{") ++depth;
        if (op == ")" || op == "]" || op == "}") {
          if (depth == 0) syntax_error(line_, detail::cat("unexpected '", op, "'"));
          --depth;
        }
        tokens_.push_back({TokenType::kOperator, op, line_});
        pos_ += op.size();
      }
    }
  }

  void lex_number() {
    size_t start = pos_;
    auto digits = [&] {
      while (pos_ < src_.size() &&
             (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) {
        ++pos_;
      }
    };
    digits();
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
      is_float = true;
      ++pos_;
      digits();
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t save = pos_;
      ++pos_;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
      if (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) {
        is_float = true;
        digits();
      } else {
        pos_ = save;
      }
    }
    std::string spelled;
    for (size_t i = start; i < pos_; ++i) {
      if (src_[i] != '_') spelled += src_[i];
    }
    tokens_.push_back({is_float ? TokenType::kFloat : TokenType::kInteger, spelled, line_});
  }

  void lex_string(char quote) {
    int start_line = line_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) syntax_error(start_line, "unterminated string");
      char c = src_[pos_++];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= src_.size()) syntax_error(start_line, "unterminated string");
      char e = src_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'a': out += '\a'; break;
        case '0': out += '\0'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\n': ++line_; break;
        case 'x':
        case 'u':
        case 'U': {
          size_t width = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (pos_ + width > src_.size()) syntax_error(start_line, "truncated \\x escape");
          uint32_t cp = 0;
          for (size_t i = 0; i < width; ++i) {
            char h = src_[pos_ + i];
            if (!std::isxdigit(static_cast<unsigned char>(h))) {
              syntax_error(start_line, "invalid escape in string");
            }
            cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                     ? h - '0'
                                                     : std::tolower(h) - 'a' + 10);
          }
          if (cp > 0x10FFFF) syntax_error(start_line, "invalid escape in string");
          pos_ += width;
          append_utf8(out, cp);
          break;
        }
        default: out += '\\'; out += e;
      }
    }
    tokens_.push_back({TokenType::kString, out, start_line});
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  int text_line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(source).run(); }

}  // namespace coreml::llm::jinja
