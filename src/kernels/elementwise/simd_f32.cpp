// Compiled once per SIMD target by Highway's foreach_target (see simd_f32.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise/simd_f32.cpp"
// Highway needs this order: foreach_target re-includes this file once per target, and its
// per-target headers come after highway.h.
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
#include "kernels/common/fast_exp.h"
#include "kernels/common/hwy_f16.h"
#include "kernels/common/hwy_tail.h"
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

// out[i] = f(in[i]): four vectors per step, so that four of f's long dependency chains (exp,
// reciprocal) are in flight at once, and the tail as one partial vector (hwy_tail.h).
template <class D, class F>
HWY_INLINE void unary_loop(D d, const float* in, float* out, int64_t n, F f) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    const auto y0 = f(hn::LoadU(d, in + i));
    const auto y1 = f(hn::LoadU(d, in + i + lanes));
    const auto y2 = f(hn::LoadU(d, in + i + 2 * lanes));
    const auto y3 = f(hn::LoadU(d, in + i + 3 * lanes));
    hn::StoreU(y0, d, out + i);
    hn::StoreU(y1, d, out + i + lanes);
    hn::StoreU(y2, d, out + i + 2 * lanes);
    hn::StoreU(y3, d, out + i + 3 * lanes);
  }
  for (; i + lanes <= n; i += lanes) hn::StoreU(f(hn::LoadU(d, in + i)), d, out + i);
  if (i < n) PartialVector(d, in + i, out + i, n - i, f);
}

// out[i] = fp16(f(in[i])): the activation and the rounding to fp16 in one pass (a conv with an
// fp16 output). Only where the conversion is the hardware's (hwy_f16.h): false elsewhere.
template <class D, class F>
HWY_INLINE bool unary_to_half_loop(D d, const float* in, uint16_t* out, int64_t n, F f) {
#if COREML_HWY_NATIVE_F16
  const hn::Rebind<hwy::float16_t, D> dh;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  auto* half = reinterpret_cast<hwy::float16_t*>(out);
  int64_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const auto y0 = f(hn::LoadU(d, in + i));
    const auto y1 = f(hn::LoadU(d, in + i + lanes));
    hn::StoreU(hn::DemoteTo(dh, y0), dh, half + i);
    hn::StoreU(hn::DemoteTo(dh, y1), dh, half + i + lanes);
  }
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(hn::DemoteTo(dh, f(hn::LoadU(d, in + i))), dh, half + i);
  if (i < n) PartialVector(d, in + i, out + i, n - i, f);
  return true;
#else
  (void)d, (void)in, (void)out, (void)n, (void)f;
  return false;
#endif
}

bool UnaryF32ToHalf(int op, const float* in, uint16_t* out, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto keep_nan = [](auto x, auto y) { return hn::IfThenElse(hn::IsNaN(x), x, y); };
  switch (static_cast<SimdUnary>(op)) {
    case SimdUnary::kSilu:
      return unary_to_half_loop(d, in, out, n,
                                [&](auto x) { return hn::Mul(x, fast_sigmoid(d, x)); });
    case SimdUnary::kSigmoid:
      return unary_to_half_loop(d, in, out, n,
                                [&](auto x) { return keep_nan(x, fast_sigmoid(d, x)); });
    default: return false;  // gelu: two passes
  }
}

void UnaryF32(int op, const float* in, float* out, int64_t n) {
  const hn::ScalableTag<float> d;
  // NaN stays NaN (the clamps inside would turn it into a number).
  const auto keep_nan = [](auto x, auto y) { return hn::IfThenElse(hn::IsNaN(x), x, y); };
  switch (static_cast<SimdUnary>(op)) {
    case SimdUnary::kSilu:  // a NaN x makes the product NaN whatever sigmoid gave
      return unary_loop(d, in, out, n, [&](auto x) { return hn::Mul(x, fast_sigmoid(d, x)); });
    case SimdUnary::kSigmoid:
      return unary_loop(d, in, out, n, [&](auto x) { return keep_nan(x, fast_sigmoid(d, x)); });
    case SimdUnary::kGelu:
      return unary_loop(d, in, out, n, [&](auto x) { return keep_nan(x, gelu(d, x)); });
    case SimdUnary::kGeluTanh:
      return unary_loop(d, in, out, n, [&](auto x) { return keep_nan(x, gelu_tanh(d, x)); });
  }
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels {
HWY_EXPORT(BinaryF32);
HWY_EXPORT(UnaryF32);
HWY_EXPORT(UnaryF32ToHalf);

void simd_binary_f32(SimdBinary op, const float* a, const float* b, int64_t b_step, float* out,
                     int64_t n) {
  HWY_DYNAMIC_DISPATCH(BinaryF32)(static_cast<int>(op), a, b, b_step, out, n);
}

void simd_unary_f32(SimdUnary op, const float* in, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(UnaryF32)(static_cast<int>(op), in, out, n);
}

bool simd_unary_f32_to_half(SimdUnary op, const float* in, uint16_t* out, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(UnaryF32ToHalf)(static_cast<int>(op), in, out, n);
}

}  // namespace coreml::kernels
#endif  // HWY_ONCE
