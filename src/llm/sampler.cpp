#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

namespace coreml::llm {

Sampler::Sampler(const SamplerConfig& config) : config_(config), rng_(config.seed) {}

int32_t Sampler::argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

void Sampler::apply_penalties(std::vector<float>& logits, std::span<const int32_t> history,
                              float repetition, float presence, float frequency) {
  if (repetition == 1.0f && presence == 0.0f && frequency == 0.0f) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t id : history) {
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) ++counts[id];
  }
  for (const auto& [id, count] : counts) {
    float& value = logits[id];
    // Hugging Face's rule: shrink positive logits, push negative ones further down.
    if (repetition != 1.0f) value = value > 0 ? value / repetition : value * repetition;
    value -= presence + frequency * static_cast<float>(count);
  }
}

std::vector<double> Sampler::filtered_probabilities(std::span<const float> logits,
                                                    const SamplerConfig& config) {
  const size_t n = logits.size();
  const double temperature = config.temperature > 0 ? config.temperature : 1.0;
  std::vector<double> probs(n);
  double peak = -INFINITY;
  for (float v : logits) peak = std::max(peak, static_cast<double>(v) / temperature);
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    probs[i] = std::isfinite(logits[i]) ? std::exp(logits[i] / temperature - peak) : 0.0;
    total += probs[i];
  }
  for (double& p : probs) p /= total;

  // Order by probability (ties: lower id first) for top-k and top-p.
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
  size_t keep = n;
  if (config.top_k > 0) keep = std::min(keep, static_cast<size_t>(config.top_k));
  if (config.top_p > 0 && config.top_p < 1) {
    // The smallest prefix whose mass reaches top_p (among the top-k survivors).
    double mass = 0;
    size_t count = 0;
    while (count < keep) {
      mass += probs[order[count]];
      ++count;
      if (mass >= config.top_p) break;
    }
    keep = count;
  }
  if (config.min_p > 0) {
    const double floor = config.min_p * probs[order[0]];
    size_t count = 0;
    while (count < keep && probs[order[count]] >= floor) ++count;
    keep = std::max<size_t>(count, 1);
  }
  for (size_t r = keep; r < n; ++r) probs[order[r]] = 0;
  double kept = 0;
  for (double p : probs) kept += p;
  for (double& p : probs) p /= kept;
  return probs;
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  // One buffer for the adjusted logits, reused from step to step (greedy decoding then
  // allocates nothing).
  std::vector<float>& adjusted = adjusted_;
  adjusted.assign(logits.begin(), logits.end());
  apply_penalties(adjusted, history, config_.repetition_penalty, config_.presence_penalty,
                  config_.frequency_penalty);
  if (config_.temperature <= 0) return argmax(adjusted);
  const std::vector<double> probs = filtered_probabilities(adjusted, config_);
  // 53 random bits → a uniform double in [0, 1), the same on every platform.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cumulative = 0;
  int32_t last = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    last = static_cast<int32_t>(i);
    cumulative += probs[i];
    if (u < cumulative) return last;
  }
  return last;
}

}  // namespace coreml::llm
