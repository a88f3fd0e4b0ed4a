// Normalizers: Unicode forms, case and accent folding, replacements and BERT's cleanup.
#include <utf8proc.h>

#include "coreml/error.h"
#include "llm/tokenizer/components.h"
#include "llm/tokenizer/precompiled.h"
#include "llm/tokenizer/regex.h"
#include "llm/tokenizer/utf8.h"

namespace coreml::llm::tok {
namespace {

template <typename Keep, typename Map>
std::string filter_map(std::string_view text, Keep keep, Map map) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t c = next_code_point(text, pos);
    if (keep(c)) map(out, c);
  }
  return out;
}

class UnicodeForm : public Normalizer {
 public:
  explicit UnicodeForm(int options) : options_(options) {}
  void normalize(std::string& text) const override {
    if (text.empty()) return;
    utf8proc_uint8_t* result = nullptr;
    auto length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                               static_cast<utf8proc_ssize_t>(text.size()), &result,
                               static_cast<utf8proc_option_t>(options_));
    if (length < 0)
      fail(ErrorCode::kInvalidArgument, "Unicode normalization failed: ", utf8proc_errmsg(length));
    text.assign(reinterpret_cast<char*>(result), static_cast<size_t>(length));
    free(result);
  }

 private:
  int options_;
};

void append_lowercase(std::string& out, char32_t c) {
  if (c == 0x130) {  // Rust's full mapping: 'İ' -> "i\u{307}"
    out += "i\xCC\x87";
    return;
  }
  append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

class Lowercase : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    text = filter_map(
        text, [](char32_t) { return true; }, append_lowercase);
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size(), pos = 0;
    if (left_) {
      while (pos < text.size()) {
        size_t start = pos;
        if (!is_whitespace(next_code_point(text, pos))) {
          begin = start;
          break;
        }
        begin = pos;
      }
    }
    if (right_) {
      pos = begin;
      size_t last_end = begin;
      while (pos < text.size()) {
        if (!is_whitespace(next_code_point(text, pos))) last_end = pos;
      }
      end = last_end;
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class StripAccents : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    text = filter_map(
        text, [](char32_t c) { return !is_mark(c); }, append_utf8);
  }
};

class Replace : public Normalizer {
 public:
  Replace(const Node& node)
      : regex_(pattern_of(node), node.path + ".pattern"),
        content_(node.child("content").string()) {}
  static std::string pattern_of(const Node& node) {
    Node pattern = node.child("pattern");
    if (pattern.has("String")) return regex_escape(pattern.child("String").string());
    if (pattern.has("Regex")) return pattern.child("Regex").string();
    pattern.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
  void normalize(std::string& text) const override { regex_.replace_all(text, content_); }

 private:
  Regex regex_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class BertNormalizer : public Normalizer {
 public:
  explicit BertNormalizer(const Node& node)
      : clean_text_(node.bool_or("clean_text", true)),
        chinese_chars_(node.bool_or("handle_chinese_chars", true)),
        lowercase_(node.bool_or("lowercase", true)),
        strip_accents_(node.has("strip_accents") ? node.child("strip_accents").boolean()
                                                 : lowercase_) {}
  void normalize(std::string& text) const override {
    if (clean_text_) {
      text = filter_map(
          text, [](char32_t c) { return c != 0 && c != 0xFFFD && !is_control(c); },
          [](std::string& out, char32_t c) { append_utf8(out, is_bert_whitespace(c) ? ' ' : c); });
    }
    if (chinese_chars_) {
      text = filter_map(
          text, [](char32_t) { return true; },
          [](std::string& out, char32_t c) {
            if (is_chinese_char(c)) {
              out.push_back(' ');
              append_utf8(out, c);
              out.push_back(' ');
            } else {
              append_utf8(out, c);
            }
          });
    }
    if (strip_accents_) {
      UnicodeForm(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE).normalize(text);
      text = filter_map(
          text, [](char32_t c) { return !is_nonspacing_mark(c); },
          append_utf8);  // Mn only, unlike StripAccents
    }
    if (lowercase_) Lowercase().normalize(text);
  }

 private:
  bool clean_text_, chinese_chars_, lowercase_, strip_accents_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(const Node& node) {
    Node list = node.child("normalizers");
    for (size_t i = 0; i < list.array().size(); ++i) steps_.push_back(make_normalizer(list.at(i)));
  }
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Node& node) {
  const std::string type = node.type_name();
  const int stable = UTF8PROC_STABLE;
  if (type == "NFC") return std::make_unique<UnicodeForm>(stable | UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeForm>(stable | UTF8PROC_DECOMPOSE);
  if (type == "NFKC") {
    return std::make_unique<UnicodeForm>(stable | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  }
  if (type == "NFKD") {
    return std::make_unique<UnicodeForm>(stable | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  }
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") {
    return std::make_unique<Strip>(node.bool_or("strip_left", true),
                                   node.bool_or("strip_right", true));
  }
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Replace") return std::make_unique<Replace>(node);
  if (type == "Prepend") return std::make_unique<Prepend>(node.child("prepend").string());
  if (type == "BertNormalizer") return std::make_unique<BertNormalizer>(node);
  if (type == "Precompiled") return make_precompiled_normalizer(node);
  if (type == "Sequence") return std::make_unique<Sequence>(node);
  node.fail("unknown normalizer type '" + type + "'");
}

}  // namespace coreml::llm::tok
