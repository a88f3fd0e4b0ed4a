// How a pre-tokenizer turns pattern matches into pieces (Hugging Face's SplitDelimiterBehavior).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "llm/tokenizer/components.h"

namespace coreml::llm::tok {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

SplitBehavior parse_split_behavior(const Node& node);

// A [begin, end) byte range of a piece and whether the pattern matched it.
struct Span {
  size_t begin, end;
  bool is_match;
};

// Turns sorted, non-overlapping matches into spans covering all of [0, size).
std::vector<Span> spans_from_matches(const std::vector<std::pair<size_t, size_t>>& matches,
                                     size_t size);

// Appends the pieces of `piece` that `behavior` keeps for these spans; empty pieces are dropped.
void split_piece(const Piece& piece, std::vector<Span> spans, SplitBehavior behavior,
                 std::vector<Piece>& out);

}  // namespace coreml::llm::tok
