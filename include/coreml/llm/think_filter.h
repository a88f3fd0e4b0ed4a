// Hides a model's reasoning (`<think> ... </think>`) from streamed text. Pieces arrive in any
// split — a tag may straddle two pieces — so text that could still be the start of a tag is
// held back until it is decided.
#pragma once

#include <string>
#include <string_view>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

namespace coreml::llm {

class ThinkFilter {
 public:
  explicit ThinkFilter(std::string open = "<think>", std::string close = "</think>");
  // Returns the part of `piece` that is visible (outside think blocks) and decided.
  std::string feed(std::string_view piece);
  // Returns text held back at the end of the stream (a partial tag that never completed).
  std::string finish();
  bool inside() const { return inside_; }

 private:
  std::string open_, close_;
  std::string pending_;  // undecided text: a possible tag prefix
  bool inside_ = false;
  bool skip_newlines_ = false;  // drop the blank line that follows "</think>"
};

}  // namespace coreml::llm

COREML_PUBLIC_END
