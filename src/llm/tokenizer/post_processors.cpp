// Post-processors: wrap encoded sequences in special tokens ([CLS] A [SEP], templates, ...).
#include <map>

#include "coreml/error.h"
#include "llm/tokenizer/components.h"

namespace coreml::llm::tok {
namespace {

std::pair<std::string, int32_t> token_and_id(const Node& node) {
  if (node.array().size() != 2) node.fail("expected [token, id]");
  int64_t id = node.at(1).integer();
  if (id < 0 || id > INT32_MAX) node.at(1).fail("id out of range");
  return {node.at(0).string(), static_cast<int32_t>(id)};
}

TokenSequence single(const std::pair<std::string, int32_t>& token) {
  return TokenSequence{{token.second}, {token.first}};
}

// [CLS] A [SEP] (B [SEP]); Roberta doubles the separator between the pair.
class ClsSep : public PostProcessor {
 public:
  ClsSep(const Node& node, bool double_separator)
      : cls_(token_and_id(node.child("cls"))),
        sep_(token_and_id(node.child("sep"))),
        double_separator_(double_separator) {}
  std::vector<TokenSequence> process(std::vector<TokenSequence> sequences) const override {
    const TokenSequence& first = sequences.at(0);
    const TokenSequence* second = sequences.size() > 1 ? &sequences[1] : nullptr;
    TokenSequence out = single(cls_);
    out.append(first);
    out.append(single(sep_));
    if (second) {
      if (double_separator_) out.append(single(sep_));
      out.append(*second);
      out.append(single(sep_));
    }
    return {out};
  }

 private:
  std::pair<std::string, int32_t> cls_, sep_;
  bool double_separator_;
};

class Template : public PostProcessor {
 public:
  explicit Template(const Node& node) {
    Node specials = node.child("special_tokens");
    for (const auto& [name, value] : specials.object().items()) {
      Node entry{value, specials.path + "." + name};
      TokenSequence tokens;
      Node ids = entry.child("ids"), strings = entry.child("tokens");
      if (ids.array().size() != strings.array().size())
        entry.fail("ids and tokens differ in length");
      for (size_t i = 0; i < ids.array().size(); ++i) {
        int64_t id = ids.at(i).integer();
        if (id < 0 || id > INT32_MAX) ids.at(i).fail("id out of range");
        tokens.ids.push_back(static_cast<int32_t>(id));
        tokens.tokens.push_back(strings.at(i).string());
      }
      special_tokens_[name] = std::move(tokens);
    }
    single_ = read_template(node.child("single"));
    pair_ = read_template(node.child("pair"));
  }

  std::vector<TokenSequence> process(std::vector<TokenSequence> sequences) const override {
    TokenSequence out;
    const bool pair = sequences.size() > 1;
    for (const Item& item : pair ? pair_ : single_) {
      if (item.sequence == 'A') {
        out.append(sequences[0]);
      } else if (item.sequence == 'B') {
        if (pair) out.append(sequences[1]);
      } else {
        out.append(special_tokens_.at(item.special));
      }
    }
    return {out};
  }

 private:
  struct Item {
    char sequence = 0;  // 'A', 'B', or 0 for a special token
    std::string special;
  };

  std::vector<Item> read_template(const Node& list) const {
    std::vector<Item> items;
    for (size_t i = 0; i < list.array().size(); ++i) {
      Node piece = list.at(i);
      if (piece.has("Sequence")) {
        std::string id = piece.child("Sequence").child("id").string();
        if (id != "A" && id != "B") piece.fail("sequence id must be A or B");
        items.push_back(Item{id[0], {}});
      } else if (piece.has("SpecialToken")) {
        std::string id = piece.child("SpecialToken").child("id").string();
        if (!special_tokens_.count(id)) piece.fail("special token '" + id + "' is not defined");
        items.push_back(Item{0, id});
      } else {
        piece.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
    return items;
  }

  std::map<std::string, TokenSequence> special_tokens_;
  std::vector<Item> single_, pair_;
};

// ByteLevel only adjusts offsets, which we do not report.
class PassThrough : public PostProcessor {
 public:
  std::vector<TokenSequence> process(std::vector<TokenSequence> sequences) const override {
    return sequences;
  }
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(const Node& node) {
    Node list = node.child("processors");
    for (size_t i = 0; i < list.array().size(); ++i)
      steps_.push_back(make_post_processor(list.at(i)));
  }
  std::vector<TokenSequence> process(std::vector<TokenSequence> sequences) const override {
    for (const auto& step : steps_) sequences = step->process(std::move(sequences));
    return sequences;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Node& node) {
  const std::string type = node.type_name();
  if (type == "TemplateProcessing") return std::make_unique<Template>(node);
  if (type == "BertProcessing") return std::make_unique<ClsSep>(node, false);
  if (type == "RobertaProcessing") return std::make_unique<ClsSep>(node, true);
  if (type == "ByteLevel") return std::make_unique<PassThrough>();
  if (type == "Sequence") return std::make_unique<Sequence>(node);
  node.fail("unknown post-processor type '" + type + "'");
}

}  // namespace coreml::llm::tok
