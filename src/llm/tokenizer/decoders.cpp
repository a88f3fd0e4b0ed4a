// Decoders: turn token strings back into text (undo byte mapping, metaspaces, "##" prefixes...).
#include "coreml/error.h"
#include "llm/tokenizer/byte_level.h"
#include "llm/tokenizer/components.h"
#include "llm/tokenizer/regex.h"
#include "llm/tokenizer/utf8.h"

namespace coreml::llm::tok {
namespace {

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t last = 0;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, last)) {
    out.append(text, last, at - last);
    out += to;
    last = at + from.size();
  }
  if (last == 0) return;
  out.append(text, last);
  text = std::move(out);
}

// The "clean up tokenization spaces" rule shared by WordPiece and CTC.
void cleanup_spaces(std::string& text) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
      {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
      {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : kRules) replace_all(text, from, to);
}

class ByteLevel : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      size_t mark = bytes.size();
      if (!byte_level_to_bytes(token, bytes)) {
        bytes.resize(mark);
        bytes += token;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class Metaspace : public Decoder {
 public:
  explicit Metaspace(const Node& node)
      : replacement_(node.string_or("replacement", "\xE2\x96\x81")) {
    std::string scheme = node.string_or("prepend_scheme", "");
    strip_first_ = scheme.empty() ? node.bool_or("add_prefix_space", true) : scheme != "never";
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement_, i == 0 && strip_first_ ? "" : " ");
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class WordPiece : public Decoder {
 public:
  explicit WordPiece(const Node& node)
      : prefix_(node.string_or("prefix", "##")), cleanup_(node.bool_or("cleanup", true)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& token = tokens[i];
      if (i != 0) {
        if (token.compare(0, prefix_.size(), prefix_) == 0) {
          token.erase(0, prefix_.size());
        } else {
          token = std::string(" ") + token;
        }
      }
      if (cleanup_) cleanup_spaces(token);
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class ByteFallback : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (find_invalid_utf8(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& token : tokens) {
      int byte = parse_byte(token);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int parse_byte(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
    int value = 0;
    for (int i = 3; i < 5; ++i) {
      char c = token[i];
      int digit = (c >= '0' && c <= '9')   ? c - '0'
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                           : -1;
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    return value;
  }
};

class Fuse : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const auto& t : tokens) joined += t;
    tokens.assign(1, joined);
  }
};

class Strip : public Decoder {
 public:
  explicit Strip(const Node& node)
      : content_(node.child("content").string()),
        start_(node.child("start").integer()),
        stop_(node.child("stop").integer()) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (std::string& token : tokens) {
      for (int64_t i = 0; i < start_ && token.compare(0, content_.size(), content_) == 0; ++i) {
        token.erase(0, content_.size());
      }
      for (int64_t i = 0;
           i < stop_ && token.size() >= content_.size() &&
           token.compare(token.size() - content_.size(), content_.size(), content_) == 0;
           ++i) {
        token.resize(token.size() - content_.size());
      }
    }
  }

 private:
  std::string content_;
  int64_t start_, stop_;
};

class Replace : public Decoder {
 public:
  explicit Replace(const Node& node)
      : regex_(pattern_of(node), node.path + ".pattern"),
        content_(node.child("content").string()) {}
  static std::string pattern_of(const Node& node) {
    Node pattern = node.child("pattern");
    if (pattern.has("String")) return regex_escape(pattern.child("String").string());
    if (pattern.has("Regex")) return pattern.child("Regex").string();
    pattern.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) regex_.replace_all(token, content_);
  }

 private:
  Regex regex_;
  std::string content_;
};

class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(const Node& node) : suffix_(node.string_or("suffix", "</w>")) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
  }

 private:
  std::string suffix_;
};

class Ctc : public Decoder {
 public:
  explicit Ctc(const Node& node)
      : pad_(node.string_or("pad_token", "<pad>")),
        delimiter_(node.string_or("word_delimiter_token", "|")),
        cleanup_(node.bool_or("cleanup", true)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;  // collapse repeats
      if (tokens[i] == pad_) continue;
      std::string token = tokens[i];
      replace_all(token, delimiter_, " ");
      if (cleanup_) cleanup_spaces(token);
      out.push_back(std::move(token));
    }
    tokens = std::move(out);
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(const Node& node) {
    Node list = node.child("decoders");
    for (size_t i = 0; i < list.array().size(); ++i) steps_.push_back(make_decoder(list.at(i)));
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Node& node) {
  const std::string type = node.type_name();
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Metaspace") return std::make_unique<Metaspace>(node);
  if (type == "WordPiece") return std::make_unique<WordPiece>(node);
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") return std::make_unique<Strip>(node);
  if (type == "Replace") return std::make_unique<Replace>(node);
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(node);
  if (type == "CTC") return std::make_unique<Ctc>(node);
  if (type == "Sequence") return std::make_unique<Sequence>(node);
  node.fail("unknown decoder type '" + type + "'");
}

}  // namespace coreml::llm::tok
