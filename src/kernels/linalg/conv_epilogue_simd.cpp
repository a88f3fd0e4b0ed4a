// The piecewise-linear fused activations of ConvActivation (conv_epilogue.h) in Highway SIMD,
// compiled once per target by foreach_target; ConvActivation::apply calls them unless
// COREML_SIMD=0. Same comparisons as the scalar loops (a NaN input stays NaN where they keep it).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/conv_epilogue_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include <algorithm>

#include "kernels/common/simd.h"
#include "kernels/linalg/conv_epilogue.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V>
V ClampSimd(D, V v, V lo, V hi) {
  const V low = hn::IfThenElse(hn::Lt(v, lo), lo, v);
  return hn::IfThenElse(hn::Gt(low, hi), hi, low);
}

template <class D, class V>
V ActivateSimd(D d, const ConvActivation& a, V v) {
  using K = ConvActivation::Kind;
  const V zero = hn::Zero(d);
  switch (a.kind) {
    case K::kRelu: return hn::IfThenElse(hn::Lt(v, zero), zero, v);
    case K::kRelu6: return ClampSimd(d, v, zero, hn::Set(d, 6.0f));
    case K::kClip: return ClampSimd(d, v, hn::Set(d, a.alpha), hn::Set(d, a.beta));
    case K::kSigmoidHard:
      return ClampSimd(d, hn::Add(hn::Mul(hn::Set(d, a.alpha), v), hn::Set(d, a.beta)), zero,
                       hn::Set(d, 1.0f));
    case K::kThresholdedRelu: return hn::IfThenElse(hn::Lt(v, hn::Set(d, a.threshold)), zero, v);
    case K::kHardSwish: {
      const V t = hn::IfThenElse(hn::Lt(v, hn::Set(d, a.threshold)), zero, v);
      const V s = ClampSimd(d, hn::Add(hn::Mul(hn::Set(d, a.alpha), t), hn::Set(d, a.beta)), zero,
                            hn::Set(d, 1.0f));
      return hn::Mul(t, s);
    }
    default: return v;
  }
}

void ActivatePiecewiseSimd(const ConvActivation& a, float* v, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(ActivateSimd(d, a, hn::LoadU(d, v + i)), d, v + i);
  if (i < n) {  // the tail through a whole vector on the stack
    HWY_ALIGN float tail[hn::MaxLanes(d)] = {};
    std::copy(v + i, v + n, tail);
    hn::Store(ActivateSimd(d, a, hn::Load(d, tail)), d, tail);
    std::copy(tail, tail + (n - i), v + i);
  }
}

}  // namespace coreml::kernels::linalg::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels::linalg {
HWY_EXPORT(ActivatePiecewiseSimd);

bool activate_piecewise_simd(const ConvActivation& a, float* values, int64_t count) {
  if (!simd_enabled()) return false;
  HWY_DYNAMIC_DISPATCH(ActivatePiecewiseSimd)(a, values, count);
  return true;
}

}  // namespace coreml::kernels::linalg
#endif
