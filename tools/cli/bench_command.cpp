// `coreml bench`: prefill and decode speed of an ANEMLL LLM on a synthetic prompt.
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "coreml/error.h"
#include "coreml/llm/model.h"
#include "llm_cli_options.h"

namespace coreml::cli {
namespace {

void register_bench(CLI::App& app, const GlobalOptions&, Runner& selected) {
  struct Options {
    std::string model = kDefaultLlm;
    int prompt_tokens = 128, gen_tokens = 64;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prefill / decode speed of an ANEMLL LLM");
  cmd->add_option("--model", options->model, "Model folder or Hub repo id");
  cmd->add_option("--prompt-tokens", options->prompt_tokens, "Prompt length")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--gen-tokens", options->gen_tokens, "Tokens to generate")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([options, &selected] {
    selected = [options] {
      auto model = llm::Model::load(options->model);
      const int64_t context = model->info().context_length;
      const int64_t count = std::min<int64_t>(options->prompt_tokens, context - 1);
      // Ordinary (non-special) token ids, cycling; the content does not matter for speed.
      std::vector<int32_t> ids(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) ids[i] = static_cast<int32_t>(100 + (i * 7) % 500);
      llm::GenerateOptions generate;
      generate.max_tokens = options->gen_tokens;
      generate.ignore_eos = true;
      generate.sampling.temperature = 0.0f;
      const auto result = model->generate(ids, generate);
      const auto& s = result.stats;
      if (options->json) {
        nlohmann::ordered_json out = {{"prefill_tok_s", s.prefill_tok_s},
                                      {"decode_tok_s", s.decode_tok_s},
                                      {"ttft_ms", s.ttft_ms},
                                      {"peak_rss_mb", s.peak_rss_mb}};
        std::cout << out.dump() << "\n";
      } else {
        std::cout << "prompt " << count << " tokens, generated " << s.generated_tokens
                  << "\nprefill " << s.prefill_tok_s << " tok/s\ndecode " << s.decode_tok_s
                  << " tok/s\nttft " << s.ttft_ms << " ms\npeak RSS " << s.peak_rss_mb << " MB\n";
      }
      return 0;
    };
  });
}

}  // namespace

COREML_CLI_COMMAND(42, register_bench);

}  // namespace coreml::cli
