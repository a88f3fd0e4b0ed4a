// Compiled once per SIMD target by Highway's foreach_target (see layer_norm_row.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/reduction/layer_norm_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include <cmath>

#include "kernels/reduction/layer_norm_row.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// fp32 values are read as fp64 vectors (half as many lanes): the statistics keep the simple
// kernel's fp64 arithmetic at vector speed.
void LayerNormRow(const float* in, int64_t n, double epsilon, const float* gamma, const float* beta,
                  float* out) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const auto lanes = static_cast<int64_t>(hn::Lanes(dd));
  const auto load = [&](int64_t j) { return hn::PromoteTo(dd, hn::LoadU(df, in + j)); };
  auto s0 = hn::Zero(dd), s1 = hn::Zero(dd);
  int64_t j = 0;
  for (; j + 2 * lanes <= n; j += 2 * lanes) {
    s0 = hn::Add(s0, load(j));
    s1 = hn::Add(s1, load(j + lanes));
  }
  double sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(s0, s1)));
  for (; j < n; ++j) sum += in[j];
  const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  const auto vmean = hn::Set(dd, mean);
  s0 = hn::Zero(dd);
  s1 = hn::Zero(dd);
  for (j = 0; j + 2 * lanes <= n; j += 2 * lanes) {
    const auto d0 = hn::Sub(load(j), vmean);
    const auto d1 = hn::Sub(load(j + lanes), vmean);
    s0 = hn::MulAdd(d0, d0, s0);
    s1 = hn::MulAdd(d1, d1, s1);
  }
  double sq = hn::GetLane(hn::SumOfLanes(dd, hn::Add(s0, s1)));
  for (; j < n; ++j) {
    const double d = in[j] - mean;
    sq += d * d;
  }
  const double var = n > 0 ? sq / static_cast<double>(n) : 0.0;
  const double inv_std = 1.0 / std::sqrt(var + epsilon);
  const auto vinv = hn::Set(dd, inv_std);
  for (j = 0; j + lanes <= n; j += lanes) {
    auto y = hn::DemoteTo(df, hn::Mul(hn::Sub(load(j), vmean), vinv));
    if (gamma) y = hn::Mul(y, hn::LoadU(df, gamma + j));
    if (beta) y = hn::Add(y, hn::LoadU(df, beta + j));
    hn::StoreU(y, df, out + j);
  }
  for (; j < n; ++j) {
    const float g = gamma ? gamma[j] : 1.0f;
    const float b = beta ? beta[j] : 0.0f;
    out[j] = static_cast<float>((in[j] - mean) * inv_std) * g + b;
  }
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels {
HWY_EXPORT(LayerNormRow);

void layer_norm_row_simd(const float* in, int64_t n, double epsilon, const float* gamma,
                         const float* beta, float* out) {
  HWY_DYNAMIC_DISPATCH(LayerNormRow)(in, n, epsilon, gamma, beta, out);
}

}  // namespace coreml::kernels
#endif
