// Sampler steps against hand-computed NumPy values. The numbers come from this snippet (NumPy
// 1.26, float32 penalties, float64 softmax):
//   l = np.array([2.0, -1.0, 0.5, 3.0, -2.0], np.float32); hist = [0, 1, 1, 3]
//   for t in set(hist): c = hist.count(t)
//       l[t] = l[t] / 1.5 if l[t] > 0 else l[t] * 1.5;  l[t] -= 0.2 + 0.1 * c
//   logits = [1.0, 2.0, 3.0, 0.5, 2.5]; pr = softmax(logits / T); order = argsort(-pr, stable)
//   keep = k or all; top-p: keep = min(keep, searchsorted(cumsum(pr[order][:keep]), p) + 1)
//   min-p: keep = max(1, sum(pr[order][:keep] >= minp * pr[order[0]])); renormalize the kept.
#include <gtest/gtest.h>

#include <map>

#include "llm/sampler.h"

using coreml::llm::Sampler;
using coreml::llm::SamplerConfig;

TEST(LlmSampler, Penalties) {
  std::vector<float> logits{2.0f, -1.0f, 0.5f, 3.0f, -2.0f};
  const std::vector<int32_t> history{0, 1, 1, 3};
  Sampler::apply_penalties(logits, history, 1.5f, 0.2f, 0.1f);
  const std::vector<float> expected{1.0333333015441895f, -1.899999976158142f, 0.5f,
                                    1.7000000476837158f, -2.0f};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(logits[i], expected[i], 1e-6) << i;
}

TEST(LlmSampler, FilterMasks) {
  const std::vector<float> logits{1.0f, 2.0f, 3.0f, 0.5f, 2.5f};
  struct Case {
    float temperature;
    int top_k;
    float top_p, min_p;
    std::vector<double> expected;
  };
  const std::vector<Case> cases{
      {0.7f,
       3,
       1.0f,
       0.0f,
       {0.0, 0.13859128424282446, 0.5783045477314085, 0.0, 0.28310416802576704}},
      {1.0f, 0, 0.8f, 0.0f, {0.0, 0.1863237232258476, 0.506480391055654, 0.0, 0.3071958857184984}},
      {1.0f, 0, 1.0f, 0.3f, {0.0, 0.1863237232258476, 0.506480391055654, 0.0, 0.3071958857184984}},
      {1.5f,
       4,
       0.9f,
       0.2f,
       {0.10571177905384209, 0.20589843060361893, 0.40103538228640245, 0.0, 0.28735440805613655}},
  };
  for (const auto& c : cases) {
    SamplerConfig config;
    config.temperature = c.temperature;
    config.top_k = c.top_k;
    config.top_p = c.top_p;
    config.min_p = c.min_p;
    const auto probs = Sampler::filtered_probabilities(logits, config);
    for (size_t i = 0; i < logits.size(); ++i) {
      EXPECT_NEAR(probs[i], c.expected[i], 1e-6) << "T " << c.temperature << " id " << i;
    }
  }
}

TEST(LlmSampler, GreedyAndSeedReproducibility) {
  const std::vector<float> logits{1.0f, 2.0f, 3.0f, 0.5f, 3.0f};
  Sampler greedy(SamplerConfig{});
  EXPECT_EQ(greedy.sample(logits, {}), 2);  // lowest id on ties
  SamplerConfig config;
  config.temperature = 1.0f;
  config.seed = 42;
  auto draw = [&](uint64_t seed) {
    config.seed = seed;
    Sampler sampler(config);
    std::vector<int32_t> ids;
    for (int i = 0; i < 64; ++i) ids.push_back(sampler.sample(logits, {}));
    return ids;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
  // Draws follow the distribution roughly and never pick a filtered token.
  config.top_k = 2;
  config.seed = 7;
  Sampler sampler(config);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) ++counts[sampler.sample(logits, {})];
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[2], 1000, 150);
  EXPECT_NEAR(counts[4], 1000, 150);
}
