// Everything a loaded tokenizer holds; shared (immutable) between Tokenizer copies.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "coreml/llm/tokenizer.h"
#include "llm/tokenizer/added_tokens.h"
#include "llm/tokenizer/components.h"
#include "llm/tokenizer/vocab.h"

namespace coreml::llm::detail {

struct TokenizerData {
  std::string name;  // for error messages
  std::vector<tok::AddedToken> added_tokens;
  std::unordered_map<std::string, int32_t, tok::StringHash, std::equal_to<>> added_by_content;
  std::unordered_map<int32_t, size_t> added_by_id;  // index into added_tokens
  tok::AddedTokenMatcher raw_matcher;               // tokens with normalized == false
  tok::AddedTokenMatcher normalized_matcher;        // tokens with normalized == true
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::Model> model;
  std::unique_ptr<tok::PostProcessor> post_processor;
  std::unique_ptr<tok::Decoder> decoder;
  size_t vocab_size = 0;

  std::optional<SpecialToken> bos, eos, pad, unk;
  std::optional<bool> add_bos, add_eos;
};

}  // namespace coreml::llm::detail
