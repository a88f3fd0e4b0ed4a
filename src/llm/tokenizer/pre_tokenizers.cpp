// Pre-tokenizers: split normalized text into the words the model tokenizes independently.
#include "coreml/error.h"
#include "llm/tokenizer/byte_level.h"
#include "llm/tokenizer/components.h"
#include "llm/tokenizer/regex.h"
#include "llm/tokenizer/split_behavior.h"
#include "llm/tokenizer/utf8.h"

namespace coreml::llm::tok {
namespace {

// GPT-2's word pattern, which ByteLevel uses when use_regex is set.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

template <typename Predicate>
std::vector<Span> spans_of_chars(const std::string& text, Predicate matches) {
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    if (matches(next_code_point(text, pos))) ranges.emplace_back(start, pos);
  }
  return spans_from_matches(ranges, text.size());
}

template <typename Predicate>
void split_by_chars(std::vector<Piece>& pieces, Predicate predicate, SplitBehavior behavior) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (const Piece& piece : pieces) {
    split_piece(piece, spans_of_chars(piece.text, predicate), behavior, out);
  }
  pieces = std::move(out);
}

void split_by_regex(std::vector<Piece>& pieces, const Regex& regex, SplitBehavior behavior,
                    bool invert) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 4);
  std::vector<std::pair<size_t, size_t>> matches;
  for (const Piece& piece : pieces) {
    matches.clear();
    regex.find_all(piece.text, matches);
    std::vector<Span> spans = spans_from_matches(matches, piece.text.size());
    if (invert) {
      for (Span& s : spans) s.is_match = !s.is_match;
    }
    split_piece(piece, std::move(spans), behavior, out);
  }
  pieces = std::move(out);
}

class Split : public PreTokenizer {
 public:
  explicit Split(const Node& node)
      : regex_(pattern_of(node), node.path + ".pattern"),
        behavior_(parse_split_behavior(node.child("behavior"))),
        invert_(node.bool_or("invert", false)) {}
  static std::string pattern_of(const Node& node) {
    Node pattern = node.child("pattern");
    if (pattern.has("String")) return regex_escape(pattern.child("String").string());
    if (pattern.has("Regex")) return pattern.child("Regex").string();
    pattern.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_by_regex(pieces, regex_, behavior_, invert_);
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevel : public PreTokenizer {
 public:
  explicit ByteLevel(const Node& node)
      : add_prefix_space_(node.bool_or("add_prefix_space", true)),
        use_regex_(node.bool_or("use_regex", true)),
        regex_(kGpt2Pattern, node.path) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (Piece& piece : pieces) {
        if (piece.text.empty() || piece.text[0] != ' ') piece.text = std::string(" ") + piece.text;
      }
    }
    if (use_regex_) split_by_regex(pieces, regex_, SplitBehavior::kIsolated, false);
    std::string mapped;
    for (Piece& piece : pieces) {
      mapped.clear();
      append_byte_level(mapped, piece.text);
      piece.text.swap(mapped);
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
  Regex regex_;
};

class Metaspace : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  explicit Metaspace(const Node& node)
      : replacement_(node.string_or("replacement", "\xE2\x96\x81")) {
    size_t pos = 0;
    if (replacement_.empty() || (next_code_point(replacement_, pos), pos != replacement_.size())) {
      node.child("replacement").fail("expected a single character");
    }
    if (node.has("prepend_scheme")) {
      std::string scheme = node.child("prepend_scheme").string();
      if (scheme == "always") {
        prepend_ = Prepend::kAlways;
      } else if (scheme == "first") {
        prepend_ = Prepend::kFirst;
      } else if (scheme == "never") {
        prepend_ = Prepend::kNever;
      } else {
        node.child("prepend_scheme").fail("expected always, first or never");
      }
    } else {
      prepend_ = node.bool_or("add_prefix_space", true) ? Prepend::kAlways : Prepend::kNever;
    }
    split_ = node.bool_or("split", true);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (Piece& piece : pieces) {
      std::string out;
      out.reserve(piece.text.size() + 8);
      for (char c : piece.text) {
        if (c == ' ') {
          out += replacement_;
        } else {
          out.push_back(c);
        }
      }
      bool starts = out.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts &&
          (prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && piece.at_origin))) {
        out = replacement_ + out;
      }
      piece.text = std::move(out);
    }
    if (!split_) return;
    std::vector<Piece> out;
    for (const Piece& piece : pieces) {
      std::vector<std::pair<size_t, size_t>> matches;
      for (size_t at = piece.text.find(replacement_); at != std::string::npos;
           at = piece.text.find(replacement_, at + replacement_.size())) {
        matches.emplace_back(at, at + replacement_.size());
      }
      split_piece(piece, spans_from_matches(matches, piece.text.size()),
                  SplitBehavior::kMergedWithNext, out);
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  Prepend prepend_ = Prepend::kAlways;
  bool split_ = true;
};

class Whitespace : public PreTokenizer {
 public:
  // \w as Oniguruma defines it for Unicode: letters, marks, decimal numbers, connectors.
  Whitespace()
      : regex_(R"([\p{L}\p{M}\p{Nd}\p{Pc}]+|[^\p{L}\p{M}\p{Nd}\p{Pc}\s]+)", "Whitespace") {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_by_regex(pieces, regex_, SplitBehavior::kRemoved, true);
  }

 private:
  Regex regex_;
};

class WhitespaceSplit : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_by_chars(pieces, is_whitespace, SplitBehavior::kRemoved);
  }
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_by_chars(pieces, is_whitespace, SplitBehavior::kRemoved);
    split_by_chars(pieces, is_punctuation, SplitBehavior::kIsolated);
  }
};

class Punctuation : public PreTokenizer {
 public:
  explicit Punctuation(const Node& node)
      : behavior_(node.has("behavior") ? parse_split_behavior(node.child("behavior"))
                                       : SplitBehavior::kIsolated) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_by_chars(pieces, is_punctuation, behavior_);
  }

 private:
  SplitBehavior behavior_;
};

class Digits : public PreTokenizer {
 public:
  explicit Digits(const Node& node) : individual_(node.bool_or("individual_digits", false)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_by_chars(pieces, is_numeric,
                   individual_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }

 private:
  bool individual_;
};

class CharDelimiterSplit : public PreTokenizer {
 public:
  explicit CharDelimiterSplit(const Node& node) {
    std::string d = node.child("delimiter").string();
    size_t pos = 0;
    if (d.empty() || (delimiter_ = next_code_point(d, pos), pos != d.size())) {
      node.child("delimiter").fail("expected a single character");
    }
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_by_chars(
        pieces, [this](char32_t c) { return c == delimiter_; }, SplitBehavior::kRemoved);
  }

 private:
  char32_t delimiter_ = 0;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(const Node& node) {
    Node list = node.child("pretokenizers");
    for (size_t i = 0; i < list.array().size(); ++i)
      steps_.push_back(make_pre_tokenizer(list.at(i)));
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Node& node) {
  const std::string type = node.type_name();
  if (type == "Split") return std::make_unique<Split>(node);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(node);
  if (type == "Metaspace") return std::make_unique<Metaspace>(node);
  if (type == "Whitespace") return std::make_unique<Whitespace>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplit>();
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Punctuation") return std::make_unique<Punctuation>(node);
  if (type == "Digits") return std::make_unique<Digits>(node);
  if (type == "CharDelimiterSplit") return std::make_unique<CharDelimiterSplit>(node);
  if (type == "Sequence") return std::make_unique<Sequence>(node);
  node.fail("unknown pre-tokenizer type '" + type + "'");
}

}  // namespace coreml::llm::tok
