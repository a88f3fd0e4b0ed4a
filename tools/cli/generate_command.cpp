// `coreml generate`: text from an ANEMLL LLM folder or Hub repo, streamed to stdout.
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "coreml/error.h"
#include "coreml/llm/model.h"
#include "coreml/llm/think_filter.h"
#include "llm_cli_options.h"

namespace coreml::cli {
namespace {

void register_generate(CLI::App& app, const GlobalOptions&, Runner& selected) {
  struct Options {
    LlmOptions llm;
    std::string prompt, system;
    bool no_chat_template = false, json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with an ANEMLL LLM");
  add_llm_options(*cmd, options->llm);
  cmd->add_option("--prompt", options->prompt, "The user message (or raw prompt)")->required();
  cmd->add_option("--system", options->system, "A system message");
  cmd->add_flag("--no-chat-template", options->no_chat_template,
                "Tokenize the prompt as is, without the chat template");
  cmd->add_flag("--json", options->json, "Print one JSON object instead of streaming text");
  cmd->callback([options, &selected] {
    selected = [options] {
      auto model = llm::Model::load(options->llm.model, load_options(options->llm));
      std::vector<int32_t> ids;
      if (options->no_chat_template) {
        ids = model->tokenizer().encode(options->prompt, {.add_special_tokens = true});
      } else {
        nlohmann::ordered_json messages = nlohmann::ordered_json::array();
        if (!options->system.empty()) {
          messages.push_back({{"role", "system"}, {"content", options->system}});
        }
        messages.push_back({{"role", "user"}, {"content", options->prompt}});
        ids = model->encode_chat(messages, chat_options(options->llm));
      }
      llm::GenerateOptions generate = generate_options(options->llm);
      auto think = std::make_shared<llm::ThinkFilter>();
      const bool hide = options->llm.hide_think;
      if (!options->json) {
        generate.on_token = [think, hide](std::string_view piece, int32_t) {
          std::cout << (hide ? think->feed(piece) : std::string(piece)) << std::flush;
          return true;
        };
      }
      const llm::GenerationResult result = model->generate(ids, generate);
      if (!options->json && hide) std::cout << think->finish();
      if (options->json) {
        nlohmann::ordered_json out;
        out["text"] = result.text;
        out["token_ids"] = result.token_ids;
        out["prompt_token_ids"] = result.prompt_token_ids;
        out["finish_reason"] = result.finish_reason;
        out["stats"] = {{"prompt_tokens", result.stats.prompt_tokens},
                        {"generated_tokens", result.stats.generated_tokens},
                        {"ttft_ms", result.stats.ttft_ms},
                        {"prefill_tok_s", result.stats.prefill_tok_s},
                        {"decode_tok_s", result.stats.decode_tok_s}};
        std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      } else {
        std::cout << "\n";
      }
      return 0;
    };
  });
}

}  // namespace

COREML_CLI_COMMAND(40, register_generate);

}  // namespace coreml::cli
