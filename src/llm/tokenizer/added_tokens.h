// Added tokens (special or not): found in the text before any other processing, leftmost-longest,
// honouring lstrip / rstrip / single_word.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace coreml::llm::tok {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

// A piece of text: either an added token (`id` >= 0) or plain text to tokenize (`id` == -1).
struct Segment {
  size_t begin, end;
  int32_t id;
};

// Finds one set of added tokens (those matched on raw text, or those matched after
// normalization). Patterns are the strings to look for, paired with their token.
class AddedTokenMatcher {
 public:
  void add(std::string pattern, const AddedToken& token);
  bool empty() const { return patterns_.empty(); }
  // Splits `text` into segments covering it (stripped whitespace belongs to the token).
  std::vector<Segment> split(std::string_view text) const;

 private:
  struct Pattern {
    std::string text;
    AddedToken token;
  };
  std::vector<Pattern> patterns_;  // longest first, so the first hit at a position is longest
  std::array<bool, 256> first_bytes_{};
};

}  // namespace coreml::llm::tok
