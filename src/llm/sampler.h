// Picks the next token from logits: penalties, temperature, top-k, top-p, min-p, then a draw
// from a seeded std::mt19937_64 (or argmax when greedy).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace coreml::llm {

// Resolved parameters (no optionals): what the sampler applies.
struct SamplerConfig {
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config);

  // `history` are the ids the penalties look at (prompt and generated tokens).
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

  const SamplerConfig& config() const { return config_; }

  // The steps, exposed for tests. Each works in place.
  static void apply_penalties(std::vector<float>& logits, std::span<const int32_t> history,
                              float repetition, float presence, float frequency);
  // Returns the probabilities (softmax of logits / temperature) after the top-k, top-p and min-p
  // filters, renormalized; filtered entries are 0.
  static std::vector<double> filtered_probabilities(std::span<const float> logits,
                                                    const SamplerConfig& config);
  static int32_t argmax(std::span<const float> logits);

 private:
  SamplerConfig config_;
  std::mt19937_64 rng_;
  std::vector<float> adjusted_;
};

}  // namespace coreml::llm
