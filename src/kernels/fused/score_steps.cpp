// Compiled once per SIMD target by Highway's foreach_target (see score_steps.h). Targets whose
// fp16 conversions Highway only emulates (x86 without F16C) take the scalar loop.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/fused/score_steps.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "kernels/fused/score_steps.h"

#include "kernels/common/hwy_f16.h"
#include "kernels/fused/fused_common.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::fused::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Returns how many leading elements it did (whole vectors; 0 without native fp16 conversions).
int64_t ScoreSteps(float* v, int64_t n, bool round_product, bool has_scale, float scale,
                   bool round_scaled) {
#if COREML_HWY_NATIVE_F16
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto round = [&](auto x) { return hn::PromoteTo(d, hn::DemoteTo(dh, x)); };
  const auto vscale = hn::Set(d, scale);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    auto x = hn::LoadU(d, v + i);
    if (round_product) x = round(x);
    if (has_scale) {
      x = hn::Mul(x, vscale);
      if (round_scaled) x = round(x);
    }
    hn::StoreU(x, d, v + i);
  }
  return i;
#else
  (void)v;
  (void)n;
  (void)round_product;
  (void)has_scale;
  (void)scale;
  (void)round_scaled;
  return 0;
#endif
}

}  // namespace coreml::kernels::fused::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/common/simd.h"

namespace coreml::kernels::fused {
namespace {

void score_steps_scalar(float* v, int64_t from, int64_t n, bool round_product, bool has_scale,
                        float scale, bool round_scaled) {
  for (int64_t i = from; i < n; ++i) {
    float x = round_to(v[i], round_product);
    if (has_scale) x = round_to(x * scale, round_scaled);
    v[i] = x;
  }
}

}  // namespace

HWY_EXPORT(ScoreSteps);

void score_steps(float* v, int64_t n, bool round_product, bool has_scale, float scale,
                 bool round_scaled) {
  if (!round_product && !has_scale) return;
  const int64_t done = simd_enabled() ? HWY_DYNAMIC_DISPATCH(ScoreSteps)(
                                            v, n, round_product, has_scale, scale, round_scaled)
                                      : 0;
  score_steps_scalar(v, done, n, round_product, has_scale, scale, round_scaled);
}

void round_to_fp16_in_place(float* v, int64_t n) { score_steps(v, n, true, false, 1.0f, false); }

}  // namespace coreml::kernels::fused
#endif
