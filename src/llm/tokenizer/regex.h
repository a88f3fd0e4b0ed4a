// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available) used by the Split
// pre-tokenizer, the Replace normalizer/decoder and the ByteLevel pre-tokenizer.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coreml::llm::tok {

class Regex {
 public:
  // `where` names the field for errors ("tokenizer.json: pre_tokenizer.pattern.Regex").
  Regex(const std::string& pattern, const std::string& where);
  // Finds every non-overlapping match, left to right, as [begin, end) byte ranges. Thread-safe.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const;
  // Replaces every match in `text` with `content` (literally); false if nothing matched.
  bool replace_all(std::string& text, std::string_view content) const;

 private:
  struct Code;
  std::shared_ptr<Code> code_;
  std::string where_;
};

// Escapes a literal string so PCRE2 matches it verbatim.
std::string regex_escape(std::string_view literal);

}  // namespace coreml::llm::tok
