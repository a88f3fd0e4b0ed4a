// Compiled once per SIMD target by Highway's foreach_target (see score_steps.h). Targets whose
// fp16 conversions Highway only emulates (x86 without F16C) take the scalar loop.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/fused/score_steps.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "kernels/fused/score_steps.h"

#include <algorithm>

#include "kernels/common/hwy_f16.h"
#include "kernels/fused/fused_common.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::fused::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Returns how many leading elements it did (whole vectors; 0 without native fp16 conversions).
int64_t ScoreSteps(const float* src, float* v, int64_t n, bool round_product, bool has_scale,
                   float scale, bool round_scaled) {
#if COREML_HWY_NATIVE_F16
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto round = [&](auto x) { return hn::PromoteTo(d, hn::DemoteTo(dh, x)); };
  const auto vscale = hn::Set(d, scale);
  const auto steps = [&](auto x) {
    if (round_product) x = round(x);
    if (has_scale) {
      x = hn::Mul(x, vscale);
      if (round_scaled) x = round(x);
    }
    return x;
  };
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(steps(hn::LoadU(d, src + i)), d, v + i);
  // The tail as one padded vector: the scalar fp16 rounding costs far more per element.
  constexpr int64_t kMaxTail = 64;
  if (i < n && lanes <= kMaxTail) {
    HWY_ALIGN float tail[kMaxTail] = {};
    std::copy(src + i, src + n, tail);
    hn::Store(steps(hn::Load(d, tail)), d, tail);
    std::copy(tail, tail + (n - i), v + i);
    i = n;
  }
  return i;
#else
  (void)src;
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

void score_steps_scalar(const float* src, float* v, int64_t from, int64_t n, bool round_product,
                        bool has_scale, float scale, bool round_scaled) {
  for (int64_t i = from; i < n; ++i) {
    float x = round_to(src[i], round_product);
    if (has_scale) x = round_to(x * scale, round_scaled);
    v[i] = x;
  }
}

HWY_EXPORT(ScoreSteps);

void steps(const float* src, float* v, int64_t n, bool round_product, bool has_scale, float scale,
           bool round_scaled) {
  const int64_t done = simd_enabled()
                           ? HWY_DYNAMIC_DISPATCH(ScoreSteps)(src, v, n, round_product, has_scale,
                                                              scale, round_scaled)
                           : 0;
  score_steps_scalar(src, v, done, n, round_product, has_scale, scale, round_scaled);
}

}  // namespace

void score_steps(float* v, int64_t n, bool round_product, bool has_scale, float scale,
                 bool round_scaled) {
  if (round_product || has_scale) steps(v, v, n, round_product, has_scale, scale, round_scaled);
}

void round_to_fp16_in_place(float* v, int64_t n) { steps(v, v, n, true, false, 1.0f, false); }

void copy_rounded(const float* src, int64_t n, bool to_fp16, float* dst) {
  if (to_fp16) {
    steps(src, dst, n, true, false, 1.0f, false);
  } else {
    std::copy(src, src + n, dst);
  }
}

}  // namespace coreml::kernels::fused
#endif
