// `coreml template --tokenizer-config PATH --conversation FILE.json`: prints the rendered prompt
// exactly (no trailing newline), as transformers' apply_chat_template(tokenize=False) would.
#include <filesystem>
#include <iostream>

#include "command.h"
#include "coreml/error.h"
#include "coreml/llm/chat_template.h"
#include "format/file_util.h"
#include "format/json_util.h"

namespace coreml::cli {
namespace {

constexpr uint64_t kMaxConversationBytes = uint64_t{64} << 20;

struct TemplateOptions {
  std::string tokenizer_config;
  std::string conversation;
};

int run_template(const TemplateOptions& options) {
  llm::ChatTemplate chat_template =
      std::filesystem::is_directory(options.tokenizer_config)
          ? llm::ChatTemplate::from_folder(options.tokenizer_config)
          : llm::ChatTemplate::from_tokenizer_config(options.tokenizer_config);
  const nlohmann::ordered_json conversation = format::parse_ordered_json(
      format::read_input_file(options.conversation, kMaxConversationBytes), options.conversation);
  if (!conversation.is_object() || !conversation.contains("messages") ||
      !conversation["messages"].is_array()) {
    fail(ErrorCode::kParse, options.conversation,
         ": expected an object whose 'messages' is a list");
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
  std::cout << chat_template.render(conversation.at("messages"), render);
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
