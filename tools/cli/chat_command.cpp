// `coreml chat`: an interactive chat with an ANEMLL LLM; the KV cache is reused across turns.
// With stdin not a terminal, each line is one user message.
#include <unistd.h>

#include <iostream>

#include "command.h"
#include "coreml/error.h"
#include "coreml/llm/model.h"
#include "coreml/llm/think_filter.h"
#include "llm_cli_options.h"

namespace coreml::cli {
namespace {

void print_stats(const llm::GenerationStats& s) {
  std::cout << "[prompt " << s.prompt_tokens << " tokens (" << s.prefilled_tokens
            << " prefilled), generated " << s.generated_tokens << ", ttft " << s.ttft_ms
            << " ms, prefill " << s.prefill_tok_s << " tok/s, decode " << s.decode_tok_s
            << " tok/s, peak RSS " << s.peak_rss_mb << " MB]\n";
}

int run_chat(const LlmOptions& options, const std::string& system) {
  const bool interactive = isatty(STDIN_FILENO) != 0;
  auto model = llm::Model::load(options.model, load_options(options));
  llm::ChatSession chat(model);
  chat.set_system(system);
  if (options.no_think) chat.set_thinking(false);
  llm::GenerateOptions generate = generate_options(options);
  auto think = std::make_shared<llm::ThinkFilter>();
  const bool hide = options.hide_think;
  generate.on_token = [think, hide](std::string_view piece, int32_t) {
    std::cout << (hide ? think->feed(piece) : std::string(piece)) << std::flush;
    return true;
  };
  if (interactive) {
    std::cout << "Chatting with " << model->info().name
              << ". Commands: /reset /system TEXT /think on|off /stats /exit\n";
  }
  std::string line;
  while (true) {
    if (interactive) std::cout << "> " << std::flush;
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      chat.reset();
      continue;
    }
    if (line.rfind("/system", 0) == 0) {
      chat.set_system(line.size() > 8 ? line.substr(8) : "");
      chat.reset();
      continue;
    }
    if (line == "/think on" || line == "/think off") {
      chat.set_thinking(line == "/think on");
      continue;
    }
    if (line == "/stats") {
      print_stats(chat.last_stats());
      continue;
    }
    chat.send(line, generate);
    if (hide) {
      std::cout << think->finish();
      *think = llm::ThinkFilter();
    }
    std::cout << "\n";
  }
  return 0;
}

void register_chat(CLI::App& app, const GlobalOptions&, Runner& selected) {
  struct Options {
    LlmOptions llm;
    std::string system;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with an ANEMLL LLM (one message per line)");
  add_llm_options(*cmd, options->llm);
  cmd->add_option("--system", options->system, "A system message");
  cmd->callback([options, &selected] {
    selected = [options] { return run_chat(options->llm, options->system); };
  });
}

}  // namespace

COREML_CLI_COMMAND(41, register_chat);

}  // namespace coreml::cli
