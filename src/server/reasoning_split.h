// Splits a reasoning model's output into its reasoning (`<think> ... </think>`) and the reply,
// as the reasoning models' APIs return them (`reasoning_content` and `content`). Text arrives in
// pieces of any split while streaming, so a piece that might still be the start of a tag is held
// back until it is decided. Only a think block at the very start of the output (after
// whitespace) counts; a tag later in the reply is ordinary text.
#pragma once

#include <string>
#include <string_view>

namespace coreml::server {

class ReasoningSplitter {
 public:
  struct Delta {
    std::string reasoning, content;
  };
  // `starts_inside`: the prompt itself opened the think block (templates that end the generation
  // prompt with "<think>\n"), so the output starts as reasoning.
  explicit ReasoningSplitter(bool starts_inside = false);
  Delta feed(std::string_view piece);
  // What is still held back when the output ends.
  Delta finish();

 private:
  enum class State { kStart, kReasoning, kContent };
  State state_;
  std::string pending_;
  bool skip_space_ = false;  // drop whitespace at the start of the reasoning, and of a reply after it
};

}  // namespace coreml::server
