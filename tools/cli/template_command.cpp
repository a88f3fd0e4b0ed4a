// `coreml template --tokenizer-config PATH --conversation FILE.json`: prints the rendered prompt
// exactly (no trailing newline), as transformers' apply_chat_template(tokenize=False) would.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "command.h"
#include "coreml/error.h"
#include "coreml/llm/chat_template.h"

namespace coreml::cli {
namespace {

struct TemplateOptions {
  std::string tokenizer_config;
  std::string conversation;
};

int run_template(const TemplateOptions& options) {
  llm::ChatTemplate chat_template =
      std::filesystem::is_directory(options.tokenizer_config)
          ? llm::ChatTemplate::from_folder(options.tokenizer_config)
          : llm::ChatTemplate::from_tokenizer_config(options.tokenizer_config);
  std::ifstream in(options.conversation, std::ios::binary);
  if (!in) fail(ErrorCode::kIo, "cannot open ", options.conversation);
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json conversation;
  try {
    conversation = nlohmann::ordered_json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorCode::kParse, options.conversation, ": invalid JSON: ", e.what());
  }
  if (!conversation.is_object() || !conversation.contains("messages")) {
    fail(ErrorCode::kParse, options.conversation, ": expected an object with 'messages'");
  }
  llm::RenderOptions render;
  for (const auto& [key, value] : conversation.items()) {
    if (key == "messages") continue;
    if (key == "tools") {
      render.tools = value;
    } else if (key == "documents") {
      render.documents = value;
    } else if (key == "add_generation_prompt") {
      render.add_generation_prompt = value.is_boolean() && value.get<bool>();
    } else {
      render.extra[key] = value;
    }
  }
  std::cout << chat_template.render(conversation["messages"], render);
  std::cout.flush();
  return 0;
}

void register_template(CLI::App& app, const GlobalOptions&, Runner& selected) {
  auto options = std::make_shared<TemplateOptions>();
  CLI::App* command = app.add_subcommand("template", "Render a chat template for a conversation");
  command
      ->add_option("--tokenizer-config", options->tokenizer_config,
                   "tokenizer_config.json, or a folder holding it (chat_template.jinja wins)")
      ->required();
  command
      ->add_option("--conversation", options->conversation,
                   "JSON: {messages, tools?, documents?, add_generation_prompt?, ...}")
      ->required();
  command->callback(
      [options, &selected] { selected = [options] { return run_template(*options); }; });
}

}  // namespace

COREML_CLI_COMMAND(40, register_template);

}  // namespace coreml::cli
