// `coreml bench`: prefill and decode speed of an ANEMLL LLM on a synthetic prompt.
#include <algorithm>
#include <chrono>
#include <cstdio>
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
    int threads = 0;
    bool json = false;
    bool profile = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prefill / decode speed of an ANEMLL LLM");
  cmd->add_option("--model", options->model, "Model folder or Hub repo id");
  cmd->add_option("--prompt-tokens", options->prompt_tokens, "Prompt length")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--gen-tokens", options->gen_tokens, "Tokens to generate")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--threads", options->threads, "Runtime threads (default: one per core)")
      ->check(CLI::Range(0, 1024));
  cmd->add_flag("--profile", options->profile,
                "Also time every op type (per generated token; adds a little overhead)");
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([options, &selected] {
    selected = [options] {
      const auto load_start = std::chrono::steady_clock::now();
      auto model = llm::Model::load(options->model, {.threads = options->threads});
      const double load_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start)
              .count();
      const int64_t context = model->info().context_length;
      const int64_t count = std::min<int64_t>(options->prompt_tokens, context - 1);
      // Ordinary (non-special) token ids, cycling; the content does not matter for speed.
      std::vector<int32_t> ids(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) ids[i] = static_cast<int32_t>(100 + (i * 7) % 500);
      llm::GenerateOptions generate;
      generate.max_tokens = options->gen_tokens;
      generate.ignore_eos = true;
      generate.sampling.temperature = 0.0f;
      model->set_profiling(options->profile);
      const auto result = model->generate(ids, generate);
      const auto& s = result.stats;
      // Op types by time, per generated token (prefill included: it is part of the run).
      std::vector<OpTiming> profile = options->profile ? model->profile() : std::vector<OpTiming>{};
      std::sort(profile.begin(), profile.end(), [](const OpTiming& a, const OpTiming& b) {
        return a.milliseconds > b.milliseconds;
      });
      double total_ms = 0;
      for (const auto& p : profile) total_ms += p.milliseconds;
      const double tokens = std::max<double>(1, static_cast<double>(s.generated_tokens));
      if (options->json) {
        nlohmann::ordered_json out = {{"prefill_tok_s", s.prefill_tok_s},
                                      {"decode_tok_s", s.decode_tok_s},
                                      {"ttft_ms", s.ttft_ms},
                                      {"peak_rss_mb", s.peak_rss_mb},
                                      {"load_ms", load_ms},
                                      {"threads", options->threads}};
        if (options->profile) {
          nlohmann::ordered_json ops = nlohmann::ordered_json::array();
          for (const auto& p : profile) {
            ops.push_back({{"op_type", p.op_type},
                           {"calls", p.calls},
                           {"ms", p.milliseconds},
                           {"ms_per_token", p.milliseconds / tokens},
                           {"share", total_ms > 0 ? p.milliseconds / total_ms : 0.0}});
          }
          out["profile"] = ops;
        }
        std::cout << out.dump() << "\n";
      } else {
        std::cout << "prompt " << count << " tokens, generated " << s.generated_tokens
                  << "\nprefill " << s.prefill_tok_s << " tok/s\ndecode " << s.decode_tok_s
                  << " tok/s\nttft " << s.ttft_ms << " ms\nload " << load_ms << " ms\npeak RSS "
                  << s.peak_rss_mb << " MB\n";
        if (options->profile) {
          std::printf("\n%-28s %8s %10s %12s %7s\n", "op type", "calls", "ms", "ms/token", "share");
          for (const auto& p : profile) {
            std::printf("%-28s %8lld %10.2f %12.4f %6.1f%%\n", p.op_type.c_str(),
                        static_cast<long long>(p.calls), p.milliseconds, p.milliseconds / tokens,
                        total_ms > 0 ? 100.0 * p.milliseconds / total_ms : 0.0);
          }
        }
      }
      return 0;
    };
  });
}

}  // namespace

COREML_CLI_COMMAND(42, register_bench);

}  // namespace coreml::cli
