// Compiled once per SIMD target by Highway's foreach_target (see simd_f32.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise/simd_f32.cpp"
// Highway needs this order: foreach_target re-includes this file once per target, and its
// per-target headers come after highway.h.
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
// clang-format on

#include "kernels/elementwise/simd_f32.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <typename F>
void binary_loop(const float* a, const float* b, int64_t b_step, float* out, int64_t n, F f) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  if (b_step == 0) {
    const auto vb = hn::Set(d, *b);
    for (; i + lanes <= n; i += lanes) hn::StoreU(f(hn::LoadU(d, a + i), vb), d, out + i);
    for (; i < n; ++i) out[i] = hn::GetLane(f(hn::Set(d, a[i]), vb));
  } else {
    for (; i + lanes <= n; i += lanes) {
      hn::StoreU(f(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
    }
    for (; i < n; ++i) out[i] = hn::GetLane(f(hn::Set(d, a[i]), hn::Set(d, b[i])));
  }
}

void BinaryF32(int op, const float* a, const float* b, int64_t b_step, float* out, int64_t n) {
  switch (static_cast<SimdBinary>(op)) {
    case SimdBinary::kAdd:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) { return hn::Add(x, y); });
    case SimdBinary::kSub:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) { return hn::Sub(x, y); });
    case SimdBinary::kMul:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) { return hn::Mul(x, y); });
    case SimdBinary::kDiv:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) { return hn::Div(x, y); });
    case SimdBinary::kMax:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) {
        return hn::IfThenElse(hn::Or(hn::IsNaN(x), hn::IsNaN(y)), hn::Add(x, y), hn::Max(x, y));
      });
    case SimdBinary::kMin:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) {
        return hn::IfThenElse(hn::Or(hn::IsNaN(x), hn::IsNaN(y)), hn::Add(x, y), hn::Min(x, y));
      });
  }
}

// 1 / (1 + e^-x), with -x clamped to where Highway's Exp is valid (the clamp changes results
// only where sigmoid is below 1e-38 or rounds to 1 anyway).
template <typename D, typename V>
V sigmoid(D d, V x) {
  const V neg = hn::Min(hn::Max(hn::Neg(x), hn::Set(d, -100.f)), hn::Set(d, 88.f));
  const V one = hn::Set(d, 1.f);
  return hn::Div(one, hn::Add(one, hn::Exp(d, neg)));
}

void UnaryF32(int op, const float* in, float* out, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const bool silu = static_cast<SimdUnary>(op) == SimdUnary::kSilu;
  auto apply = [&](auto x) {
    const auto y = silu ? hn::Mul(x, sigmoid(d, x)) : sigmoid(d, x);
    return hn::IfThenElse(hn::IsNaN(x), x, y);
  };
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(apply(hn::LoadU(d, in + i)), d, out + i);
  for (; i < n; ++i) out[i] = hn::GetLane(apply(hn::Set(d, in[i])));
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels {
HWY_EXPORT(BinaryF32);
HWY_EXPORT(UnaryF32);

void simd_binary_f32(SimdBinary op, const float* a, const float* b, int64_t b_step, float* out,
                     int64_t n) {
  HWY_DYNAMIC_DISPATCH(BinaryF32)(static_cast<int>(op), a, b, b_step, out, n);
}

void simd_unary_f32(SimdUnary op, const float* in, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(UnaryF32)(static_cast<int>(op), in, out, n);
}

}  // namespace coreml::kernels
#endif  // HWY_ONCE
