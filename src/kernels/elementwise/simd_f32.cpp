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

// 1 / v for v >= 1: the hardware estimate refined by Newton steps r (2 - v r), each doubling
// its bits (x86 estimates have 12 or 14 bits: one step reaches fp32 precision; others may
// have 8: two). A division costs several times more (EfficientNet spends a quarter of its
// time in SiLU).
template <typename D, typename V>
V reciprocal(D d, V v) {
  const V two = hn::Set(d, 2.f);
  V r = hn::ApproximateReciprocal(v);
  r = hn::Mul(r, hn::NegMulAdd(v, r, two));
#if !HWY_ARCH_X86
  r = hn::Mul(r, hn::NegMulAdd(v, r, two));
#endif
  return r;
}

// 1 / (1 + e^-x), with -x clamped to where Highway's Exp is valid (the clamp changes results
// only where sigmoid is below 1e-38 or rounds to 1 anyway).
template <typename D, typename V>
V sigmoid(D d, V x) {
  const V neg = hn::Min(hn::Max(hn::Neg(x), hn::Set(d, -100.f)), hn::Set(d, 88.f));
  return reciprocal(d, hn::Add(hn::Set(d, 1.f), hn::Exp(d, neg)));
}

// x/2 (1 + erf(x / sqrt 2)). With z = |x| / sqrt 2, erfc(z) = poly(t) e^(-z^2), t = 1 / (1 + p z)
// (A&S 7.1.26); 1 + erf(x / sqrt 2) is erfc(z) for x < 0 (no cancellation) and 2 - erfc(z).
template <typename D, typename V>
V gelu(D d, V x) {
  const V z = hn::Mul(hn::Abs(x), hn::Set(d, 0.70710678118654752f));
  const V t = hn::Div(hn::Set(d, 1.f), hn::MulAdd(hn::Set(d, 0.3275911f), z, hn::Set(d, 1.f)));
  V poly = hn::Set(d, 1.061405429f);
  poly = hn::MulAdd(poly, t, hn::Set(d, -1.453152027f));
  poly = hn::MulAdd(poly, t, hn::Set(d, 1.421413741f));
  poly = hn::MulAdd(poly, t, hn::Set(d, -0.284496736f));
  poly = hn::MulAdd(poly, t, hn::Set(d, 0.254829592f));
  poly = hn::Mul(poly, t);
  const V z2 = hn::Min(hn::Mul(z, z), hn::Set(d, 87.f));  // erfc is 0 in fp32 beyond
  const V erfc = hn::Mul(poly, hn::Exp(d, hn::Neg(z2)));
  const auto negative = hn::Lt(x, hn::Zero(d));
  const V one_plus_erf = hn::IfThenElse(negative, erfc, hn::Sub(hn::Set(d, 2.f), erfc));
  return hn::Mul(hn::Mul(hn::Set(d, 0.5f), x), one_plus_erf);
}

// x/2 (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
template <typename D, typename V>
V gelu_tanh(D d, V x) {
  const V inner = hn::Mul(hn::Set(d, 0.79788456080286536f),
                          hn::MulAdd(hn::Mul(hn::Set(d, 0.044715f), hn::Mul(x, x)), x, x));
  return hn::Mul(hn::Mul(hn::Set(d, 0.5f), x), hn::Add(hn::Set(d, 1.f), hn::Tanh(d, inner)));
}

void UnaryF32(int op, const float* in, float* out, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto kind = static_cast<SimdUnary>(op);
  auto apply = [&](auto x) {
    auto y = x;
    switch (kind) {
      case SimdUnary::kSilu: y = hn::Mul(x, sigmoid(d, x)); break;
      case SimdUnary::kSigmoid: y = sigmoid(d, x); break;
      case SimdUnary::kGelu: y = gelu(d, x); break;
      case SimdUnary::kGeluTanh: y = gelu_tanh(d, x); break;
    }
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
