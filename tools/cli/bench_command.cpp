// `coreml bench`: prefill and decode speed of an ANEMLL LLM on a synthetic prompt.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "backend_options.h"
#include "backends/backend.h"
#include "command.h"
#include "coreml/error.h"
#include "coreml/llm/model.h"
#include "llm_cli_options.h"

namespace coreml::cli {
namespace {

std::vector<OpTiming> sorted_by_time(std::vector<OpTiming> timings) {
  std::sort(timings.begin(), timings.end(),
            [](const OpTiming& a, const OpTiming& b) { return a.milliseconds > b.milliseconds; });
  return timings;
}

// total − earlier, by op type (an op type seen only later keeps its whole time).
std::vector<OpTiming> subtract(std::vector<OpTiming> total, const std::vector<OpTiming>& earlier) {
  for (OpTiming& t : total) {
    for (const OpTiming& e : earlier) {
      if (e.op_type != t.op_type) continue;
      t.calls -= e.calls;
      t.milliseconds -= e.milliseconds;
    }
  }
  std::erase_if(total, [](const OpTiming& t) { return t.calls <= 0; });
  return total;
}

double total_ms(const std::vector<OpTiming>& timings) {
  double total = 0;
  for (const auto& t : timings) total += t.milliseconds;
  return total;
}

nlohmann::ordered_json profile_json(const std::vector<OpTiming>& timings, double tokens) {
  const double total = total_ms(timings);
  nlohmann::ordered_json ops = nlohmann::ordered_json::array();
  for (const auto& t : timings) {
    ops.push_back({{"op_type", t.op_type},
                   {"calls", t.calls},
                   {"ms", t.milliseconds},
                   {"ms_per_token", t.milliseconds / tokens},
                   {"share", total > 0 ? t.milliseconds / total : 0.0}});
  }
  return ops;
}

void print_profile(const char* title, const std::vector<OpTiming>& timings, double tokens) {
  const double total = total_ms(timings);
  std::printf("\n%s: %.3f ms/token\n%-28s %8s %10s %12s %7s\n", title, total / tokens, "op type",
              "calls", "ms", "ms/token", "share");
  for (const auto& t : timings) {
    std::printf("%-28s %8lld %10.2f %12.4f %6.1f%%\n", t.op_type.c_str(),
                static_cast<long long>(t.calls), t.milliseconds, t.milliseconds / tokens,
                total > 0 ? 100.0 * t.milliseconds / total : 0.0);
  }
}

void register_bench(CLI::App& app, const GlobalOptions&, Runner& selected) {
  struct Options {
    std::string model = kDefaultLlm;
    int prompt_tokens = 128, gen_tokens = 64;
    int threads = 0;
    int warmup = 1;
    BackendChoice backend;
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
  cmd->add_option("--warmup", options->warmup,
                  "Untimed runs of the same prompt first (plans memory, faults pages in; as "
                  "llama-bench does); 0 times a cold first run")
      ->check(CLI::Range(0, 100));
  add_backend_options(*cmd, options->backend);
  cmd->add_flag("--profile", options->profile,
                "Also time every op type, prefill and decode apart (adds a little overhead)");
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([options, &selected] {
    selected = [options] {
      const auto load_start = std::chrono::steady_clock::now();
      auto model =
          llm::Model::load(options->model, {.threads = options->threads,
                                            .backend = options->backend.backend,
                                            .compute_units = options->backend.compute_units});
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
      // Warm-up: the first run of a prompt length records its memory plan and touches every
      // buffer and weight page for the first time; what a user waits for once per load.
      for (int w = 0; w < options->warmup; ++w) {
        llm::GenerateOptions warm = generate;
        warm.max_tokens = std::min(2, options->gen_tokens);
        model->generate(ids, warm);
      }
      model->set_profiling(options->profile);
      // The first token comes out of prefill plus one decode step (ANEMLL's prefill computes no
      // logits), so the profile taken then is "prefill"; what follows is decode.
      std::vector<OpTiming> at_first_token;
      if (options->profile) {
        generate.on_token = [&](std::string_view, int32_t) {
          if (at_first_token.empty()) at_first_token = model->profile();
          return true;
        };
      }
      const auto result = model->generate(ids, generate);
      const auto& s = result.stats;
      const std::vector<OpTiming> prefill = sorted_by_time(at_first_token);
      const std::vector<OpTiming> decode =
          options->profile ? sorted_by_time(subtract(model->profile(), at_first_token))
                           : std::vector<OpTiming>{};
      const double prefill_tokens = std::max<double>(1, static_cast<double>(s.prefilled_tokens));
      const double decode_tokens = std::max<double>(1, static_cast<double>(s.generated_tokens - 1));
      if (options->json) {
        nlohmann::ordered_json out = {{"prefill_tok_s", s.prefill_tok_s},
                                      {"decode_tok_s", s.decode_tok_s},
                                      {"ttft_ms", s.ttft_ms},
                                      {"peak_rss_mb", s.peak_rss_mb},
                                      {"load_ms", load_ms},
                                      {"threads", options->threads},
                                      {"backend", backends::backend_name(model->backend())}};
        if (options->profile) {
          out["profile"] = {{"prefill", profile_json(prefill, prefill_tokens)},
                            {"decode", profile_json(decode, decode_tokens)}};
        }
        std::cout << out.dump() << "\n";
      } else {
        std::cout << "prompt " << count << " tokens, generated " << s.generated_tokens
                  << "\nprefill " << s.prefill_tok_s << " tok/s\ndecode " << s.decode_tok_s
                  << " tok/s\nttft " << s.ttft_ms << " ms\nload " << load_ms << " ms\npeak RSS "
                  << s.peak_rss_mb << " MB\n";
        if (options->profile) {
          print_profile("prefill (per prompt token; includes the first decode step)", prefill,
                        prefill_tokens);
          print_profile("decode (per generated token after the first)", decode, decode_tokens);
        }
      }
      return 0;
    };
  });
}

}  // namespace

COREML_CLI_COMMAND(42, register_bench);

}  // namespace coreml::cli
