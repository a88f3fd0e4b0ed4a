// Minimal use of the LLM API: load an ANEMLL model (folder or Hub repo id), render a chat prompt,
// stream the reply.  build/bin/example_generate [MODEL] [PROMPT]
#include <iostream>

#include "coreml/error.h"
#include "coreml/llm/model.h"

int main(int argc, char** argv) {
  const std::string model_path = argc > 1 ? argv[1] : "examples/tiny-qwen3";
  const std::string prompt = argc > 2 ? argv[2] : "Hello!";
  try {
    auto llm = coreml::llm::Model::load(model_path);
    auto ids = llm->encode_chat({{{"role", "user"}, {"content", prompt}}});
    coreml::llm::GenerateOptions options{.max_tokens = 32};
    options.on_token = [](std::string_view piece, int32_t /*token*/) {
      std::cout << piece << std::flush;  // complete UTF-8 only
      return true;                       // false cancels
    };
    const auto result = llm->generate(ids, options);
    std::cout << "\n[" << result.stats.generated_tokens << " tokens, " << result.stats.decode_tok_s
              << " tok/s]\n";
  } catch (const coreml::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
