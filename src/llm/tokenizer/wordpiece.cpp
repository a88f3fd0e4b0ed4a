// WordPiece: greedy longest-match-first over each word, continuation pieces carrying a prefix.
#include "coreml/error.h"
#include "llm/tokenizer/components.h"
#include "llm/tokenizer/utf8.h"
#include "llm/tokenizer/vocab.h"

namespace coreml::llm::tok {
namespace {

class WordPiece : public Model {
 public:
  explicit WordPiece(const Node& node)
      : vocab_(read_vocab_object(node.child("vocab"))),
        unk_token_(node.string_or("unk_token", "[UNK]")),
        prefix_(node.string_or("continuing_subword_prefix", "##")),
        max_chars_(node.has("max_input_chars_per_word")
                       ? node.child("max_input_chars_per_word").integer()
                       : 100) {}

  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    int64_t chars = 0;
    for (unsigned char c : word) chars += (c & 0xC0) != 0x80;
    if (chars > max_chars_) {
      ids.push_back(unk_id());
      return;
    }
    size_t first = ids.size();
    std::string candidate;
    size_t start = 0;
    while (start < word.size()) {
      size_t end = word.size();
      std::optional<int32_t> found;
      while (start < end) {
        candidate.clear();
        if (start > 0) candidate += prefix_;
        candidate.append(word.substr(start, end - start));
        if ((found = vocab_.find(candidate))) break;
        do {
          --end;  // back off one whole character
        } while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (!found) {
        ids.resize(first);
        ids.push_back(unk_id());
        return;
      }
      ids.push_back(*found);
      start = end;
    }
  }

  std::optional<int32_t> token_to_id(std::string_view token) const override {
    return vocab_.find(token);
  }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  int32_t unk_id() const {
    auto id = vocab_.find(unk_token_);
    if (!id) fail(ErrorCode::kParse, "WordPiece unk_token '", unk_token_, "' is not in the vocab");
    return *id;
  }

  Vocab vocab_;
  std::string unk_token_, prefix_;
  int64_t max_chars_;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const Node& node) {
  return std::make_unique<WordPiece>(node);
}

}  // namespace coreml::llm::tok
