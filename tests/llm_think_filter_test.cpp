// ThinkFilter: reasoning hidden from streamed text however the pieces are split.
#include <gtest/gtest.h>

#include "coreml/llm/think_filter.h"

namespace coreml::llm {
namespace {

std::string filter_in_pieces(const std::string& text, size_t piece_size) {
  ThinkFilter f;
  std::string out;
  for (size_t i = 0; i < text.size(); i += piece_size) out += f.feed(text.substr(i, piece_size));
  return out + f.finish();
}

TEST(ThinkFilter, HidesThinkBlocksForEverySplit) {
  const std::string text = "<think>\nLet me see: 2 < 3.\n</think>\n\nThe answer is <b>4</b>.";
  for (size_t size = 1; size <= text.size(); ++size) {
    EXPECT_EQ(filter_in_pieces(text, size), "The answer is <b>4</b>.") << "piece size " << size;
  }
}

TEST(ThinkFilter, PassesTextWithoutTagsAndKeepsPartialTagsAtTheEnd) {
  EXPECT_EQ(filter_in_pieces("plain text, no tags", 3), "plain text, no tags");
  EXPECT_EQ(filter_in_pieces("ends with <thi", 2), "ends with <thi");
  EXPECT_EQ(filter_in_pieces("a<think>never closed", 4), "a");
  EXPECT_EQ(filter_in_pieces("x<think>1</think>y<think>2</think>z", 1), "xyz");
}

}  // namespace
}  // namespace coreml::llm
