// SentencePiece's precompiled normalization map ("precompiled_charsmap"): a darts-clone
// double-array trie over UTF-8 keys whose values index a blob of NUL-terminated replacements.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llm/tokenizer/components.h"

namespace coreml::llm::tok {

class PrecompiledCharsMap {
 public:
  // `blob` is the decoded charsmap: u32 trie size in bytes, the trie units, the strings.
  PrecompiledCharsMap(std::string_view blob, const std::string& where);
  // The replacement for the shortest key that is a prefix of `chunk`, as SentencePiece does.
  std::optional<std::string_view> transform(std::string_view chunk) const;
  // Applies the map grapheme by grapheme (whole grapheme first, then character by character).
  std::string normalize(std::string_view text) const;

 private:
  std::vector<uint32_t> units_;
  std::string strings_;
};

std::string base64_decode(std::string_view text, const std::string& where);
std::unique_ptr<Normalizer> make_precompiled_normalizer(const Node& node);

}  // namespace coreml::llm::tok
