#include "llm/tokenizer/vocab.h"

#include "coreml/error.h"
#include "llm/tokenizer/utf8.h"

namespace coreml::llm::tok {

namespace {
constexpr int64_t kMaxVocabId = 1 << 24;  // far above any real vocabulary; bounds our tables
}

void Vocab::add(std::string token, int64_t id, const Node& where) {
  if (id < 0 || id >= kMaxVocabId) where.fail(detail::cat("token id ", id, " out of range"));
  if (find_invalid_utf8(token) != std::string::npos) where.fail("token is not valid UTF-8");
  if (static_cast<size_t>(id) >= tokens_.size()) {
    tokens_.resize(static_cast<size_t>(id) + 1);
    present_.resize(static_cast<size_t>(id) + 1);
  }
  // Later duplicates of an id win, as in a JSON object read into a map.
  tokens_[id] = token;
  present_[id] = true;
  ids_[std::move(token)] = static_cast<int32_t>(id);
}

Vocab read_vocab_object(const Node& node) {
  Vocab vocab;
  for (const auto& [token, id] : node.object().items()) {
    Node entry{id, node.path + "[\"" + token + "\"]"};
    vocab.add(token, entry.integer(), entry);
  }
  return vocab;
}

}  // namespace coreml::llm::tok
