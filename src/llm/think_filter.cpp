#include "coreml/llm/think_filter.h"

#include <algorithm>

namespace coreml::llm {

ThinkFilter::ThinkFilter(std::string open, std::string close)
    : open_(std::move(open)), close_(std::move(close)) {}

namespace {
// Length of the longest suffix of `text` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  const size_t max = std::min(text.size(), tag.size() - 1);
  for (size_t n = max; n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}
}  // namespace

std::string ThinkFilter::feed(std::string_view piece) {
  pending_.append(piece);
  std::string visible;
  for (;;) {
    if (skip_newlines_ && !inside_) {
      const size_t first = pending_.find_first_not_of('\n');
      if (first == std::string::npos) {
        pending_.clear();
        return visible;
      }
      pending_.erase(0, first);
      skip_newlines_ = false;
    }
    const std::string& tag = inside_ ? close_ : open_;
    const size_t at = pending_.find(tag);
    if (at == std::string::npos) {
      const size_t keep = partial_tag_suffix(pending_, tag);
      if (!inside_) visible.append(pending_, 0, pending_.size() - keep);
      pending_.erase(0, pending_.size() - keep);
      return visible;
    }
    if (!inside_) visible.append(pending_, 0, at);
    pending_.erase(0, at + tag.size());
    if (inside_) skip_newlines_ = true;
    inside_ = !inside_;
  }
}

std::string ThinkFilter::finish() {
  std::string rest = inside_ ? std::string() : pending_;
  pending_.clear();
  return rest;
}

}  // namespace coreml::llm
