// Fuzzes the chat-template engine: the input bytes are the template text, rendered with a fixed
// conversation. Only coreml::Error may escape; every loop and output is bounded, so no hangs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "coreml/error.h"
#include "coreml/llm/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi <think>x</think> there"},
    {"role": "assistant", "content": "", "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": {"a": [1, 2.5, null]}}}]},
    {"role": "tool", "content": "ok"}])");
  coreml::llm::RenderOptions options;
  options.tools =
      nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  options.add_generation_prompt = true;
  options.extra = {{"enable_thinking", false}};
  options.now = 0;
  try {
    auto chat_template = coreml::llm::ChatTemplate::from_string(
        std::string(reinterpret_cast<const char*>(data), size));
    chat_template.render(messages, options);
  } catch (const coreml::Error&) {
  }
  return 0;
}
