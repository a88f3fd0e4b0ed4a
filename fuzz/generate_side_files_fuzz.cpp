// Fuzzes the side files `coreml generate` reads from an ANEMLL folder before it runs a model:
// meta.yaml, tokenizer.json, tokenizer_config.json, generation_config.json and
// chat_template.jinja. The input holds them in that order, separated by lines "//FILE" (an
// empty part means the file is absent). They are written to a scratch folder and loaded as
// Model::load does, then a conversation is rendered, encoded and decoded. Only coreml::Error
// may escape.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coreml/error.h"
#include "coreml/llm/chat_template.h"
#include "coreml/llm/tokenizer.h"
#include "fuzz_files.h"
#include "llm/anemll_meta.h"
#include "llm/generation_config.h"

namespace {

constexpr const char* kFiles[] = {"meta.yaml", "tokenizer.json", "tokenizer_config.json",
                                  "generation_config.json", "chat_template.jinja"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = coreml::fuzz::split(
      std::string_view(reinterpret_cast<const char*>(data), size), "\n//FILE\n");
  const auto folder = coreml::fuzz::scratch_folder();
  for (size_t i = 0; i < parts.size() && i < std::size(kFiles); ++i) {
    if (!parts[i].empty()) coreml::fuzz::write_file(folder / kFiles[i], parts[i]);
  }
  try {
    (void)coreml::llm::read_anemll_meta((folder / "meta.yaml").string());
  } catch (const coreml::Error&) {
  }
  try {
    std::vector<int32_t> stops;
    coreml::llm::SamplingParams defaults;
    coreml::llm::read_generation_config(folder / "generation_config.json", stops, defaults);
  } catch (const coreml::Error&) {
  }
  try {
    const auto tokenizer = coreml::llm::Tokenizer::from_file(folder);
    std::string prompt = "Hello <|im_start|> world 123";
    try {
      const auto chat_template = coreml::llm::ChatTemplate::from_folder(folder.string());
      coreml::llm::RenderOptions options;
      options.add_generation_prompt = true;
      options.now = 0;
      prompt = chat_template.render(
          nlohmann::ordered_json::parse(
              R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])"),
          options);
    } catch (const coreml::Error&) {
    }
    const auto ids = tokenizer.encode(prompt, {.add_special_tokens = true});
    (void)tokenizer.decode(ids);
  } catch (const coreml::Error&) {
  }
  return 0;
}
