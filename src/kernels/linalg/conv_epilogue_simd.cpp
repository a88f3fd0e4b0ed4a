// The piecewise-linear fused activations of ConvActivation (conv_epilogue.h) in Highway SIMD,
// compiled once per target by foreach_target; ConvActivation::apply calls them unless
// COREML_SIMD=0. Same comparisons as the scalar loops (a NaN input stays NaN where they keep it).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/conv_epilogue_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include "kernels/common/hwy_tail.h"
// clang-format on

#include <algorithm>

#include "kernels/common/simd.h"
#include "kernels/linalg/conv_epilogue.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using K = ConvActivation::Kind;

template <class V>
HWY_INLINE V ClampSimd(V v, V lo, V hi) {
  const V low = hn::IfThenElse(hn::Lt(v, lo), lo, v);
  return hn::IfThenElse(hn::Gt(low, hi), hi, low);
}

// The activation's constants as vectors, set once per call (not reloaded per vector: the
// stores through `values` could alias the ConvActivation, so the compiler would not hoist them).
template <class D>
struct Constants {
  hn::Vec<D> zero, one, six, alpha, beta, threshold;
  Constants(D d, const ConvActivation& a)
      : zero(hn::Zero(d)),
        one(hn::Set(d, 1.0f)),
        six(hn::Set(d, 6.0f)),
        alpha(hn::Set(d, a.alpha)),
        beta(hn::Set(d, a.beta)),
        threshold(hn::Set(d, a.threshold)) {}
};

template <K kKind, class D, class V>
HWY_INLINE V Activate(const Constants<D>& c, V v) {
  if constexpr (kKind == K::kRelu) return hn::IfThenElse(hn::Lt(v, c.zero), c.zero, v);
  if constexpr (kKind == K::kRelu6) return ClampSimd(v, c.zero, c.six);
  if constexpr (kKind == K::kClip) return ClampSimd(v, c.alpha, c.beta);
  if constexpr (kKind == K::kSigmoidHard) {
    return ClampSimd(hn::Add(hn::Mul(c.alpha, v), c.beta), c.zero, c.one);
  }
  if constexpr (kKind == K::kThresholdedRelu) {
    return hn::IfThenElse(hn::Lt(v, c.threshold), c.zero, v);
  }
  if constexpr (kKind == K::kHardSwish) {
    const V t = hn::IfThenElse(hn::Lt(v, c.threshold), c.zero, v);
    return hn::Mul(t, ClampSimd(hn::Add(hn::Mul(c.alpha, t), c.beta), c.zero, c.one));
  }
  return v;
}

// One loop per kind: no choice left inside it. (alpha v + beta rounds twice, as the scalar
// loops do.)
template <K kKind>
void ActivateAll(const ConvActivation& a, const float* in, float* out, int64_t n) {
  const hn::ScalableTag<float> d;
  const Constants<decltype(d)> c(d, a);
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const auto y0 = Activate<kKind>(c, hn::LoadU(d, in + i));
    const auto y1 = Activate<kKind>(c, hn::LoadU(d, in + i + lanes));
    hn::StoreU(y0, d, out + i);
    hn::StoreU(y1, d, out + i + lanes);
  }
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(Activate<kKind>(c, hn::LoadU(d, in + i)), d, out + i);
  }
  if (i < n) {
    kernels::HWY_NAMESPACE::PartialVector(d, in + i, out + i, n - i,
                                          [&](auto x) { return Activate<kKind>(c, x); });
  }
}

void ActivatePiecewiseSimd(const ConvActivation& a, const float* in, float* out, int64_t n) {
  switch (a.kind) {
    case K::kRelu: return ActivateAll<K::kRelu>(a, in, out, n);
    case K::kRelu6: return ActivateAll<K::kRelu6>(a, in, out, n);
    case K::kClip: return ActivateAll<K::kClip>(a, in, out, n);
    case K::kSigmoidHard: return ActivateAll<K::kSigmoidHard>(a, in, out, n);
    case K::kThresholdedRelu: return ActivateAll<K::kThresholdedRelu>(a, in, out, n);
    case K::kHardSwish: return ActivateAll<K::kHardSwish>(a, in, out, n);
    default: return;  // not piecewise: ConvActivation::apply does not call this
  }
}

}  // namespace coreml::kernels::linalg::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels::linalg {
HWY_EXPORT(ActivatePiecewiseSimd);

bool activate_piecewise_simd(const ConvActivation& a, const float* in, float* out, int64_t count) {
  if (!simd_enabled()) return false;
  HWY_DYNAMIC_DISPATCH(ActivatePiecewiseSimd)(a, in, out, count);
  return true;
}

}  // namespace coreml::kernels::linalg
#endif
