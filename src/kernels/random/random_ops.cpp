// random_uniform, random_normal, random_bernoulli and random_categorical. As coremltools
// documents `seed`: -1 (the default) draws fresh values on every prediction; any other seed
// makes the op produce the same values on every prediction (a generator seeded with it at
// each run). The generator is our own (SplitMix64), so values differ from Apple's, only the
// distributions and the seed contract match.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <string>

#include "kernels/common/compute.h"
#include "runtime/kernel_registry.h"
#include "runtime/limits.h"

namespace coreml::kernels {
namespace {

class Generator {
 public:
  explicit Generator(int64_t seed) {
    if (seed < 0) {
      std::random_device device;
      state_ = (static_cast<uint64_t>(device()) << 32) ^ device();
    } else {
      state_ = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    }
  }
  uint64_t next() {  // SplitMix64
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller; one value per call keeps the stream simple).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  uint64_t state_ = 0;
};

std::vector<int64_t> output_shape(const runtime::OpContext& ctx) {
  const Tensor& s = ctx.in("shape");
  if (s.rank() != 1) ctx.fail("shape must be a vector");
  std::vector<int64_t> shape = load_i64(s);
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > (int64_t{1} << 32)) ctx.fail("shape value ", d, " is out of range");
    count *= d;
    if (count > (int64_t{1} << 32)) ctx.fail("the requested shape is too large");
  }
  // The values are drawn into an fp64 buffer first: the budget of that size (a shape from the
  // model or from run-time values must not allocate beyond the tensor budget).
  runtime::check_tensor_budget(shape, DType::kFloat64, ctx.where());
  return shape;
}

template <typename Draw>
void fill(runtime::OpContext& ctx, Draw draw) {
  const auto shape = output_shape(ctx);
  Generator gen(ctx.get_int("seed", -1));
  std::vector<double> values(static_cast<size_t>(element_count(shape)));
  for (double& v : values) v = draw(gen);
  emit(ctx, 0, shape, values);
}

void random_uniform(runtime::OpContext& ctx) {
  const double low = ctx.get_float("low", 0.0), high = ctx.get_float("high", 1.0);
  fill(ctx, [&](Generator& g) { return low + (high - low) * g.uniform(); });
}

void random_normal(runtime::OpContext& ctx) {
  const double mean = ctx.get_float("mean", 0.0), stddev = ctx.get_float("stddev", 1.0);
  fill(ctx, [&](Generator& g) { return mean + stddev * g.normal(); });
}

void random_bernoulli(runtime::OpContext& ctx) {
  const double p = ctx.get_float("prob", 0.5);
  if (!(p >= 0 && p <= 1)) ctx.fail("prob must be in [0, 1], got ", p);
  fill(ctx, [&](Generator& g) { return g.uniform() < p ? 1.0 : 0.0; });
}

// random_categorical(x [*D, K]) -> [*D, size]: `size` class indices (as x's float type) drawn
// with replacement from each row's distribution (softmax of logits, or probs normalized).
void random_categorical(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() < 1) ctx.fail("x must have rank 1 or more");
  const std::string mode = ctx.get_string("mode", "logits");
  if (mode != "logits" && mode != "probs")
    ctx.fail("mode must be logits or probs, got '", mode, "'");
  const int64_t size = ctx.get_int("size", 1);
  if (size < 0 || size > (int64_t{1} << 24)) ctx.fail("size ", size, " is out of range");
  const int64_t k = x.shape().back();
  const int64_t rows = k == 0 ? 0 : x.numel() / k;
  const auto v = load_f64(x);
  Generator gen(ctx.get_int("seed", -1));
  std::vector<double> out(static_cast<size_t>(rows * size));
  std::vector<double> cdf(static_cast<size_t>(k));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = &v[static_cast<size_t>(r * k)];
    double top = -INFINITY;
    for (int64_t j = 0; j < k; ++j) top = std::max(top, row[j]);
    double total = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double w = mode == "logits" ? std::exp(row[j] - top) : std::max(0.0, row[j]);
      total += w;
      cdf[static_cast<size_t>(j)] = total;
    }
    if (!(total > 0) || !std::isfinite(total)) ctx.fail("row ", r, " is not a distribution");
    for (int64_t s = 0; s < size; ++s) {
      const double u = gen.uniform() * total;
      int64_t j = 0;
      while (j + 1 < k && cdf[static_cast<size_t>(j)] <= u) ++j;
      out[static_cast<size_t>(r * size + s)] = static_cast<double>(j);
    }
  }
  std::vector<int64_t> shape = x.shape();
  shape.back() = size;
  emit(ctx, 0, shape, out);
}

}  // namespace

void register_random_kernels(runtime::KernelRegistry& r) {
  r.add("random_uniform", random_uniform);
  r.add("random_normal", random_normal);
  r.add("random_bernoulli", random_bernoulli);
  r.add("random_categorical", random_categorical);
}

}  // namespace coreml::kernels
