// Unigram language model: the segmentation with the highest total piece score (Viterbi), unknown
// characters costing the lowest score minus a penalty, as SentencePiece does.
#include <algorithm>
#include <limits>

#include "coreml/error.h"
#include "llm/tokenizer/components.h"
#include "llm/tokenizer/utf8.h"
#include "llm/tokenizer/vocab.h"

namespace coreml::llm::tok {
namespace {

constexpr double kUnknownPenalty = 10.0;

class Unigram : public Model {
 public:
  explicit Unigram(const Node& node) {
    Node list = node.child("vocab");
    const size_t count = list.array().size();
    scores_.reserve(count);
    double min_score = std::numeric_limits<double>::max();
    for (size_t i = 0; i < count; ++i) {
      Node entry = list.at(i);
      if (entry.array().size() != 2) entry.fail("expected [piece, score]");
      std::string piece = entry.at(0).string();
      double score = entry.at(1).number();
      max_piece_bytes_ = std::max(max_piece_bytes_, piece.size());
      // First occurrence of a piece wins for string -> id lookups.
      if (!vocab_.find(piece)) vocab_.add(piece, static_cast<int64_t>(i), entry);
      pieces_.push_back(std::move(piece));
      scores_.push_back(score);
      min_score = std::min(min_score, score);
    }
    unknown_score_ = (count ? min_score : 0.0) - kUnknownPenalty;
    if (node.has("unk_id")) {
      int64_t id = node.child("unk_id").integer();
      if (id < 0 || static_cast<size_t>(id) >= count) node.child("unk_id").fail("out of range");
      unk_id_ = static_cast<int32_t>(id);
    }
    byte_fallback_ = node.bool_or("byte_fallback", false);
  }

  void tokenize(std::string_view text, std::vector<int32_t>& ids) const override {
    if (text.empty()) return;
    struct Best {
      double score = 0;
      int64_t start = -1;  // -1: not reached yet
      int32_t id = -1;
    };
    std::vector<Best> best(text.size() + 1);
    best[0].start = 0;
    size_t start = 0;
    while (start < text.size()) {
      size_t char_length =
          std::min(text.size() - start, utf8_length(static_cast<unsigned char>(text[start])));
      double base = best[start].score;
      bool has_single_char = false;
      size_t limit = std::min(text.size() - start, max_piece_bytes_);
      for (size_t length = char_length; length <= limit;) {
        if (auto id = piece_id(text.substr(start, length))) {
          Best& target = best[start + length];
          double candidate = scores_[*id] + base;
          if (target.start < 0 || candidate > target.score)
            target = {candidate, int64_t(start), *id};
          if (length == char_length) has_single_char = true;
        }
        if (start + length >= text.size()) break;
        length += utf8_length(static_cast<unsigned char>(text[start + length]));
      }
      if (!has_single_char) {
        if (!unk_id_) fail(ErrorCode::kParse, "Unigram model has no unk_id for unknown text");
        Best& target = best[start + char_length];
        double candidate = unknown_score_ + base;
        if (target.start < 0 || candidate > target.score) {
          target = {candidate, int64_t(start), *unk_id_};
        }
      }
      start += char_length;
    }
    // Walk back from the end; adjacent unknown pieces fuse into one.
    std::vector<std::string_view> words;
    size_t end = text.size();
    size_t unk_begin = std::string::npos, unk_end = 0;
    while (end > 0) {
      const Best& node = best[end];
      size_t begin = static_cast<size_t>(node.start);
      if (unk_id_ && node.id == *unk_id_) {
        if (unk_begin == std::string::npos) unk_end = end;
        unk_begin = begin;
      } else {
        if (unk_begin != std::string::npos) {
          words.push_back(text.substr(unk_begin, unk_end - unk_begin));
          unk_begin = std::string::npos;
        }
        words.push_back(text.substr(begin, end - begin));
      }
      end = begin;
    }
    if (unk_begin != std::string::npos)
      words.push_back(text.substr(unk_begin, unk_end - unk_begin));
    for (auto it = words.rbegin(); it != words.rend(); ++it) emit(*it, ids);
  }

  std::optional<int32_t> token_to_id(std::string_view token) const override {
    return vocab_.find(token);
  }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return pieces_.size(); }

 private:
  std::optional<int32_t> piece_id(std::string_view piece) const { return vocab_.find(piece); }

  void emit(std::string_view word, std::vector<int32_t>& ids) const {
    if (auto id = vocab_.find(word)) {
      ids.push_back(*id);
      return;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      for (unsigned char b : word) {
        auto id = vocab_.find(byte_fallback_token(b));
        if (!id) break;
        bytes.push_back(*id);
      }
      if (bytes.size() == word.size()) {
        ids.insert(ids.end(), bytes.begin(), bytes.end());
        return;
      }
    }
    if (!unk_id_) fail(ErrorCode::kParse, "Unigram model has no unk_id for unknown text");
    ids.push_back(*unk_id_);
  }

  Vocab vocab_;
  std::vector<std::string> pieces_;
  std::vector<double> scores_;
  size_t max_piece_bytes_ = 0;
  double unknown_score_ = 0;
  std::optional<int32_t> unk_id_;
  bool byte_fallback_ = false;
};

}  // namespace

std::unique_ptr<Model> make_unigram(const Node& node) { return std::make_unique<Unigram>(node); }

std::unique_ptr<Model> make_model(const Node& node) {
  // Older files omit "type"; the fields then tell the model apart.
  std::string type;
  if (node.has("type")) {
    type = node.type_name();
  } else if (node.has("merges")) {
    type = "BPE";
  } else if (node.has("vocab") && node.child("vocab").value.is_array()) {
    type = "Unigram";
  } else {
    type = "WordPiece";
  }
  if (type == "BPE") return make_bpe(node);
  if (type == "WordPiece") return make_wordpiece(node);
  if (type == "Unigram") return make_unigram(node);
  node.fail("unknown model type '" + type + "'");
}

}  // namespace coreml::llm::tok
