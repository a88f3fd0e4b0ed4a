// Random ops (random_uniform, random_normal, random_bernoulli, random_categorical) through whole
// models (tests/data/random/, made by tools/fixtures/make_random_models.py): the values follow
// the documented distributions (checked statistically against bounds of 5 standard errors,
// and deterministic for a fixed seed), a fixed seed repeats its values on every prediction and
// load, and seed -1 draws new values each time.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "coreml/model.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

Model load(const std::string& name) {
  return Model::load(
      (fs::path(COREML_TEST_DATA_DIR) / "random" / name / "model.mlpackage").string());
}

std::vector<double> draw(Model& model, const Tensor& x) {
  return model.predict({{"x", x}}).at("y").to(DType::kFloat64).to_vector<double>();
}

Tensor zeros(std::vector<int64_t> shape) { return Tensor::zeros(shape, DType::kFloat32); }

struct Moments {
  double mean = 0, variance = 0;
};

Moments moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.variance += (x - m.mean) * (x - m.mean);
  m.variance /= static_cast<double>(v.size() - 1);
  return m;
}

constexpr int64_t kN = 4000;

TEST(RandomOps, UniformRangeAndMoments) {
  Model model = load("uniform_seed7");
  const auto v = draw(model, zeros({kN}));
  ASSERT_EQ(v.size(), static_cast<size_t>(kN));
  for (double x : v) {
    ASSERT_GE(x, -2.0);
    ASSERT_LT(x, 3.0);
  }
  // U(-2, 3): mean 0.5, variance 25/12.
  const Moments m = moments(v);
  const double se = std::sqrt(25.0 / 12.0 / kN);
  EXPECT_NEAR(m.mean, 0.5, 5 * se);
  EXPECT_NEAR(m.variance, 25.0 / 12.0, 0.15 * 25.0 / 12.0);
  // Every fifth of the interval gets about a fifth of the draws.
  std::vector<int> bins(5, 0);
  for (double x : v) ++bins[static_cast<size_t>(std::min(4.0, std::floor(x + 2.0)))];
  for (int b : bins) EXPECT_NEAR(b, kN / 5.0, 5 * std::sqrt(kN * 0.2 * 0.8));
}

TEST(RandomOps, FixedSeedRepeatsAcrossPredictionsAndLoads) {
  Model model = load("uniform_seed7");
  const auto first = draw(model, zeros({kN}));
  EXPECT_EQ(draw(model, zeros({kN})), first);
  Model again = load("uniform_seed7");
  EXPECT_EQ(draw(again, zeros({kN})), first);
  Model other_seed = load("uniform_seed8");
  EXPECT_NE(draw(other_seed, zeros({kN})), first);
}

TEST(RandomOps, NoSeedDrawsNewValuesEachPrediction) {
  Model model = load("uniform_no_seed");
  const auto a = draw(model, zeros({kN}));
  const auto b = draw(model, zeros({kN}));
  EXPECT_NE(a, b);
  const Moments m = moments(a);
  EXPECT_NEAR(m.mean, 0.5, 5 * std::sqrt(1.0 / 12.0 / kN));
}

TEST(RandomOps, UniformFp16) {
  Model model = load("uniform_fp16");
  const Outputs out = model.predict({{"x", zeros({kN})}});
  EXPECT_EQ(out.at("y").dtype(), DType::kFloat16);
  const auto v = out.at("y").to(DType::kFloat64).to_vector<double>();
  for (double x : v) {
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 1.0);  // rounding to fp16 may reach the upper bound
  }
  EXPECT_NEAR(moments(v).mean, 0.5, 5 * std::sqrt(1.0 / 12.0 / kN));
}

TEST(RandomOps, NormalMoments) {
  Model model = load("normal_seed11");
  const auto v = draw(model, zeros({kN}));
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 1.5, 5 * 0.5 / std::sqrt(kN));
  EXPECT_NEAR(std::sqrt(m.variance), 0.5, 0.05);
  // About 68.3 % within one standard deviation.
  int inside = 0;
  for (double x : v) inside += std::abs(x - 1.5) < 0.5;
  EXPECT_NEAR(inside, 0.6827 * kN, 5 * std::sqrt(kN * 0.6827 * 0.3173));
}

TEST(RandomOps, BernoulliFrequency) {
  Model model = load("bernoulli_seed3");
  const auto v = draw(model, zeros({kN}));
  int ones = 0;
  for (double x : v) {
    ASSERT_TRUE(x == 0.0 || x == 1.0) << x;
    ones += x == 1.0;
  }
  EXPECT_NEAR(ones, 0.3 * kN, 5 * std::sqrt(kN * 0.3 * 0.7));
}

// Class frequencies of each row against its probabilities.
void expect_frequencies(const std::vector<double>& draws, int64_t row, int64_t size,
                        const std::vector<double>& p) {
  std::vector<int> counts(p.size(), 0);
  for (int64_t s = 0; s < size; ++s) {
    const double c = draws[static_cast<size_t>(row * size + s)];
    ASSERT_TRUE(c >= 0 && c < static_cast<double>(p.size()) && c == std::floor(c)) << c;
    ++counts[static_cast<size_t>(c)];
  }
  for (size_t k = 0; k < p.size(); ++k) {
    EXPECT_NEAR(counts[k], p[k] * size, 5 * std::sqrt(size * p[k] * (1 - p[k])) + 1)
        << "row " << row << " class " << k;
  }
}

TEST(RandomOps, CategoricalFromLogits) {
  Model model = load("categorical_logits");
  const Tensor logits =
      Tensor::from_vector(std::vector<float>{0.0f, 1.0f, 2.0f, 3.0f, 0.0f, -1.0f}, std::vector<int64_t>{2, 3});
  const Outputs out = model.predict({{"x", logits}});
  ASSERT_EQ(out.at("y").shape(), (std::vector<int64_t>{2, kN}));
  const auto v = out.at("y").to(DType::kFloat64).to_vector<double>();
  // softmax([0, 1, 2]) and softmax([3, 0, -1]).
  const double z0 = 1 + std::exp(1.0) + std::exp(2.0);
  const double z1 = std::exp(3.0) + 1 + std::exp(-1.0);
  expect_frequencies(v, 0, kN, {1 / z0, std::exp(1.0) / z0, std::exp(2.0) / z0});
  expect_frequencies(v, 1, kN, {std::exp(3.0) / z1, 1 / z1, std::exp(-1.0) / z1});
}

TEST(RandomOps, CategoricalFromProbabilities) {
  Model model = load("categorical_probs");
  const Tensor probs = Tensor::from_vector(std::vector<float>{0.1f, 0.0f, 0.6f, 0.3f}, std::vector<int64_t>{1, 4});
  const auto v = model.predict({{"x", probs}}).at("y").to(DType::kFloat64).to_vector<double>();
  expect_frequencies(v, 0, kN, {0.1, 0.0, 0.6, 0.3});
}

}  // namespace
}  // namespace coreml
