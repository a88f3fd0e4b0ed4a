// The interfaces of the tokenizer pipeline stages and the factories that build them from
// tokenizer.json. Each stage lives in its own file; this header is the contract between them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llm/tokenizer/json_fields.h"

namespace coreml::llm::tok {

// A span of text on its way through pre-tokenization. `at_origin` records whether it starts at
// the beginning of the caller's text, which Metaspace's prepend_scheme "first" depends on.
struct Piece {
  std::string text;
  bool at_origin = false;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` with the finer split (and any per-piece rewriting).
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one pre-tokenized word.
  virtual void tokenize(std::string_view word, std::vector<int32_t>& ids) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual const std::string* id_to_token(int32_t id) const = 0;
  virtual size_t vocab_size() const = 0;
};

// Token ids with their strings, as the post-processor sees them.
struct TokenSequence {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  void append(const TokenSequence& other) {
    ids.insert(ids.end(), other.ids.begin(), other.ids.end());
    tokens.insert(tokens.end(), other.tokens.begin(), other.tokens.end());
  }
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Only called when special tokens are requested. Receives the sequence and, for pairs, the
  // second one; returns the sequences to concatenate (a template merges them into one, while
  // ByteLevel passes them through so that a later step in a Sequence still sees the pair).
  virtual std::vector<TokenSequence> process(std::vector<TokenSequence> sequences) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings; the final text is their concatenation.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Normalizer> make_normalizer(const Node& node);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Node& node);
std::unique_ptr<Model> make_model(const Node& node);
std::unique_ptr<PostProcessor> make_post_processor(const Node& node);
std::unique_ptr<Decoder> make_decoder(const Node& node);

// Shared by the model files.
std::unique_ptr<Model> make_bpe(const Node& node);
std::unique_ptr<Model> make_wordpiece(const Node& node);
std::unique_ptr<Model> make_unigram(const Node& node);

// "<0xE2>" for byte 0xE2, the byte-fallback token spelling.
std::string byte_fallback_token(unsigned char byte);

}  // namespace coreml::llm::tok
