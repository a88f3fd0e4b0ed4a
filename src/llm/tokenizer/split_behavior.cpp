#include "llm/tokenizer/split_behavior.h"

#include <algorithm>

namespace coreml::llm::tok {

SplitBehavior parse_split_behavior(const Node& node) {
  std::string name = node.string();
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  node.fail("unknown split behavior '" + name + "'");
}

std::vector<Span> spans_from_matches(const std::vector<std::pair<size_t, size_t>>& matches,
                                     size_t size) {
  std::vector<Span> spans;
  spans.reserve(matches.size() * 2 + 1);
  size_t previous = 0;
  for (auto [begin, end] : matches) {
    if (begin > previous) spans.push_back({previous, begin, false});
    spans.push_back({begin, end, true});
    previous = end;
  }
  if (previous < size) spans.push_back({previous, size, false});
  return spans;
}

void split_piece(const Piece& piece, std::vector<Span> spans, SplitBehavior behavior,
                 std::vector<Piece>& out) {
  std::vector<Span> kept;
  kept.reserve(spans.size());
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Span& s : spans) {
        if (!s.is_match) kept.push_back(s);
      }
      break;
    case SplitBehavior::kIsolated: kept = std::move(spans); break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().end = s.end;
        } else {
          kept.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().begin = it->begin;
        } else {
          kept.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
    case SplitBehavior::kContiguous:
      for (const Span& s : spans) {
        if (!kept.empty() && kept.back().is_match == s.is_match) {
          kept.back().end = s.end;
        } else {
          kept.push_back(s);
        }
      }
      break;
  }
  for (const Span& s : kept) {
    if (s.end <= s.begin) continue;
    out.push_back(
        Piece{piece.text.substr(s.begin, s.end - s.begin), piece.at_origin && s.begin == 0});
  }
}

}  // namespace coreml::llm::tok
