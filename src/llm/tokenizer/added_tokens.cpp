#include "llm/tokenizer/added_tokens.h"

#include <algorithm>

#include "llm/tokenizer/utf8.h"

namespace coreml::llm::tok {

namespace {

bool is_word_character(char32_t c) { return is_alphanumeric(c) || c == '_'; }

// The last character of text[0, end) (valid UTF-8).
char32_t last_char(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return next_code_point(text, start);
}

}  // namespace

void AddedTokenMatcher::add(std::string pattern, const AddedToken& token) {
  if (pattern.empty()) return;
  first_bytes_[static_cast<unsigned char>(pattern[0])] = true;
  patterns_.push_back(Pattern{std::move(pattern), token});
  std::stable_sort(patterns_.begin(), patterns_.end(), [](const Pattern& a, const Pattern& b) {
    return a.text.size() > b.text.size();
  });
}

std::vector<Segment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<Segment> segments;
  size_t plain_start = 0;  // start of the pending plain-text segment
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_bytes_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const Pattern* hit = nullptr;
    for (const Pattern& p : patterns_) {
      if (text.compare(pos, p.text.size(), p.text) == 0) {
        hit = &p;
        break;
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + hit->text.size();
    pos = stop;  // matches never overlap, even when this one is rejected below
    const AddedToken& token = hit->token;
    if (token.single_word) {
      bool word_before = start > 0 && is_word_character(last_char(text, start));
      size_t after = stop;
      bool word_after = stop < text.size() && is_word_character(next_code_point(text, after));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      while (start > plain_start) {
        size_t previous = start - 1;
        while (previous > 0 && (static_cast<unsigned char>(text[previous]) & 0xC0) == 0x80) {
          --previous;
        }
        size_t probe = previous;
        if (!is_whitespace(next_code_point(text, probe))) break;
        start = previous;
      }
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        size_t probe = stop;
        if (!is_whitespace(next_code_point(text, probe))) break;
        stop = probe;
      }
      pos = stop;
    }
    if (start > plain_start) segments.push_back(Segment{plain_start, start, -1});
    segments.push_back(Segment{start, stop, token.id});
    plain_start = stop;
  }
  if (plain_start < text.size()) segments.push_back(Segment{plain_start, text.size(), -1});
  return segments;
}

}  // namespace coreml::llm::tok
