// Options shared by `coreml generate` and `coreml chat`.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "backend_options.h"
#include "coreml/llm/model.h"

namespace coreml::cli {

inline constexpr const char* kDefaultLlm = "anemll/anemll-Qwen-Qwen3-0.6B-ctx512_0.3.4";

struct LlmOptions {
  std::string model = kDefaultLlm;
  int max_tokens = 256;
  std::optional<float> temperature, top_p, min_p, repeat_penalty, presence_penalty,
      frequency_penalty;
  std::vector<std::string> stop;
  bool truncate = false;
  bool hide_think = false;
  std::optional<int> top_k;
  std::optional<uint64_t> seed;
  bool no_think = false;
  int threads = 0;
  BackendChoice backend;
};

inline void add_llm_options(CLI::App& cmd, LlmOptions& o) {
  cmd.add_option("--model", o.model, "Model folder or Hub repo id (org/name[@revision])");
  cmd.add_option("--max-tokens", o.max_tokens, "Maximum tokens to generate")
      ->check(CLI::Range(1, 1 << 20));
  cmd.add_option("--temperature", o.temperature, "Sampling temperature (0 = greedy)");
  cmd.add_option("--top-k", o.top_k, "Keep the k most likely tokens");
  cmd.add_option("--top-p", o.top_p, "Nucleus sampling mass");
  cmd.add_option("--min-p", o.min_p, "Drop tokens below min-p times the best probability");
  cmd.add_option("--repeat-penalty", o.repeat_penalty, "Repetition penalty (1 = off)");
  cmd.add_option("--seed", o.seed, "Random seed");
  cmd.add_option("--presence-penalty", o.presence_penalty,
                 "Subtracted once from seen tokens' logits");
  cmd.add_option("--frequency-penalty", o.frequency_penalty,
                 "Subtracted per occurrence of a token");
  cmd.add_option("--stop", o.stop, "Stop when this text appears (repeatable; not printed)");
  cmd.add_flag("--truncate", o.truncate, "Keep the tail of a prompt longer than the context");
  cmd.add_flag("--no-think", o.no_think, "Qwen 3: disable thinking (enable_thinking=false)");
  cmd.add_flag("--hide-think", o.hide_think, "Do not print <think>...</think> blocks");
  cmd.add_option("--threads", o.threads, "Runtime threads (default: one per core)")
      ->check(CLI::Range(0, 1024));
  add_backend_options(cmd, o.backend);
}

inline llm::LoadOptions load_options(const LlmOptions& o) {
  return {
      .threads = o.threads, .backend = o.backend.backend, .compute_units = o.backend.compute_units};
}

inline llm::GenerateOptions generate_options(const LlmOptions& o) {
  llm::GenerateOptions g;
  g.max_tokens = o.max_tokens;
  g.sampling.temperature = o.temperature;
  g.sampling.top_k = o.top_k;
  g.sampling.top_p = o.top_p;
  g.sampling.min_p = o.min_p;
  g.sampling.repetition_penalty = o.repeat_penalty;
  g.sampling.presence_penalty = o.presence_penalty;
  g.sampling.frequency_penalty = o.frequency_penalty;
  g.stop = o.stop;
  g.truncate = o.truncate;
  g.sampling.seed = o.seed;
  return g;
}

inline llm::ChatOptions chat_options(const LlmOptions& o) {
  llm::ChatOptions c;
  if (o.no_think) c.enable_thinking = false;
  return c;
}

}  // namespace coreml::cli
