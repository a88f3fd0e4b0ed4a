// See reasoning_split.h.
#include "reasoning_split.h"

#include <algorithm>

namespace coreml::server {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Removes leading whitespace while `skip` holds; clears `skip` at the first other character.
void drop_leading_space(std::string& text, bool& skip) {
  if (!skip) return;
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  text.erase(0, i);
  if (!text.empty()) skip = false;
}

// Length of the longest suffix of `text` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  for (size_t len = std::min(tag.size() - 1, text.size()); len > 0; --len) {
    if (text.substr(text.size() - len) == tag.substr(0, len)) return len;
  }
  return 0;
}

}  // namespace

ReasoningSplitter::ReasoningSplitter(bool starts_inside)
    : state_(starts_inside ? State::kReasoning : State::kStart), skip_space_(starts_inside) {}

ReasoningSplitter::Delta ReasoningSplitter::feed(std::string_view piece) {
  Delta out;
  pending_.append(piece);
  if (state_ == State::kStart) {
    size_t first = 0;
    while (first < pending_.size() && is_space(pending_[first])) ++first;
    const std::string_view rest = std::string_view(pending_).substr(first);
    if (rest.size() < kOpen.size() && kOpen.substr(0, rest.size()) == rest)
      return out;  // undecided
    if (rest.substr(0, kOpen.size()) == kOpen) {
      pending_.erase(0, first + kOpen.size());
      state_ = State::kReasoning;
      skip_space_ = true;
    } else {
      state_ = State::kContent;
    }
  }
  if (state_ == State::kReasoning) {
    drop_leading_space(pending_, skip_space_);
    const size_t close = pending_.find(kClose);
    if (close == std::string::npos) {
      const size_t keep = partial_tag_suffix(pending_, kClose);
      out.reasoning = pending_.substr(0, pending_.size() - keep);
      pending_.erase(0, pending_.size() - keep);
      return out;
    }
    out.reasoning = pending_.substr(0, close);
    pending_.erase(0, close + kClose.size());
    state_ = State::kContent;
    skip_space_ = true;
  }
  drop_leading_space(pending_, skip_space_);
  out.content += pending_;
  pending_.clear();
  return out;
}

ReasoningSplitter::Delta ReasoningSplitter::finish() {
  Delta out;
  if (state_ == State::kReasoning) {
    out.reasoning = std::move(pending_);  // an unterminated think block is still reasoning
  } else {
    out.content = std::move(pending_);
  }
  pending_.clear();
  return out;
}

}  // namespace coreml::server
