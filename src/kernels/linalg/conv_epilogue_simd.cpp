// The piecewise-linear fused activations of ConvActivation (conv_epilogue.h) in Highway SIMD,
// compiled once per target by foreach_target; ConvActivation::apply calls them unless
// COREML_SIMD=0. Same comparisons as the scalar loops (a NaN input stays NaN where they keep it).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/conv_epilogue_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include "kernels/common/fast_exp.h"
#include "kernels/common/hwy_tail.h"
// clang-format on

#include <cstdint>
#include <cstring>

#include "kernels/common/hwy_f16.h"
#include "kernels/common/prefetch.h"
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
    return ClampSimd(hn::MulAdd(c.alpha, v, c.beta), c.zero, c.one);
  }
  if constexpr (kKind == K::kThresholdedRelu) {
    return hn::IfThenElse(hn::Lt(v, c.threshold), c.zero, v);
  }
  if constexpr (kKind == K::kHardSwish) {
    const V t = hn::IfThenElse(hn::Lt(v, c.threshold), c.zero, v);
    return hn::Mul(t, ClampSimd(hn::MulAdd(c.alpha, t, c.beta), c.zero, c.one));
  }
  // The smooth ones the unary ops' SIMD loops compute (elementwise/simd_f32.cpp), for the block
  // store: the same functions, so the same bits.
  if constexpr (kKind == K::kSigmoid) {
    return hn::IfThenElse(hn::IsNaN(v), v, kernels::HWY_NAMESPACE::fast_sigmoid(D(), v));
  }
  if constexpr (kKind == K::kSilu) return hn::Mul(v, kernels::HWY_NAMESPACE::fast_sigmoid(D(), v));
  return v;
}

// One loop per kind: no choice left inside it. alpha v + beta is one fused multiply-add in
// every SIMD loop (the compiler contracted it in some and not others, and the fp32 and fp16
// stores disagreed by a rounding); the scalar loops may round twice (within the tests' bounds).
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

// The same, rounded to fp16 on the way out (the conversion f32_to_f16 makes, fused into the
// activation's pass). Only where Highway's conversion is the hardware's (hwy_f16.h): false
// elsewhere, and the caller runs the two passes.
template <K kKind>
bool ActivateToHalf(const ConvActivation& a, const float* in, uint16_t* out, int64_t n) {
#if COREML_HWY_NATIVE_F16
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const Constants<decltype(d)> c(d, a);
  auto* half = reinterpret_cast<hwy::float16_t*>(out);
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::DemoteTo(dh, Activate<kKind>(c, hn::LoadU(d, in + i))), dh, half + i);
  }
  if (i < n) {
    kernels::HWY_NAMESPACE::PartialVector(d, in + i, out + i, n - i,
                                          [&](auto x) { return Activate<kKind>(c, x); });
  }
  return true;
#else
  (void)a, (void)in, (void)out, (void)n;
  return false;
#endif
}

template <class D>
HWY_INLINE hn::Vec<D> LoadWhole(D d, const float* p) {
  return hn::LoadU(d, p);
}
template <class D>
HWY_INLINE void StoreWhole(D d, hn::Vec<D> v, float* p) {
  hn::StoreU(v, d, p);
}
#if COREML_HWY_NATIVE_F16
template <class D>
HWY_INLINE hn::Vec<D> LoadWhole(D d, const uint16_t* p) {
  const hn::Rebind<hwy::float16_t, D> dh;
  return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
}
template <class D>
HWY_INLINE void StoreWhole(D d, hn::Vec<D> v, uint16_t* p) {
  const hn::Rebind<hwy::float16_t, D> dh;
  hn::StoreU(hn::DemoteTo(dh, v), dh, reinterpret_cast<hwy::float16_t*>(p));
}
#endif

// store_conv_rows_simd for one kind and output type (T: float, or uint16_t fp16 bits).
template <K kKind, class T>
void StoreRows(const ConvActivation& a, const ConvRowsStore& s) {
  const hn::ScalableTag<float> d;
  const Constants<decltype(d)> c(d, a);
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t whole = s.count / lanes * lanes;
  const auto rest = static_cast<size_t>(s.count - whole);
  const bool has_bias = s.bias != nullptr;
  for (int64_t r = 0; r < s.rows; ++r) {
    const float* t = s.tile + r * s.tile_stride;
    T* o = static_cast<T*>(s.out) + r * s.out_stride;
    const T* res = s.residual ? static_cast<const T*>(s.residual) + r * s.out_stride : nullptr;
    const auto bias = hn::Set(d, has_bias ? s.bias[r] : 0.0f);
    if (res) {
      // The row's next run (the caller's next pass or block stores the positions after these):
      // a residual was written long before, so it comes from memory, and a plane's rows are too
      // many streams (one per channel) for the hardware prefetcher. ResNet-50's 56 x 56 1x1
      // convs with a residual took 1.7-1.8 ms in the network against 1.44 alone.
      const auto run_bytes = static_cast<uint64_t>(s.count) * sizeof(T);
      prefetch_run(res, run_bytes, run_bytes);
      prefetch_run(o, run_bytes, run_bytes);
    }
    // Adding a zero bias would turn -0 into +0: the bias is added only where there is one.
    const auto sum = [&](auto v, auto residual) {
      if (has_bias) v = hn::Add(v, bias);
      if (res) v = hn::Add(v, residual());
      return Activate<kKind>(c, v);
    };
    int64_t i = 0;
    // Four vectors per step: the smooth kinds' long dependency chains overlap.
    for (; i + 4 * lanes <= whole; i += 4 * lanes) {
      const auto y0 = sum(hn::LoadU(d, t + i), [&] { return LoadWhole(d, res + i); });
      const auto y1 =
          sum(hn::LoadU(d, t + i + lanes), [&] { return LoadWhole(d, res + i + lanes); });
      const auto y2 =
          sum(hn::LoadU(d, t + i + 2 * lanes), [&] { return LoadWhole(d, res + i + 2 * lanes); });
      const auto y3 =
          sum(hn::LoadU(d, t + i + 3 * lanes), [&] { return LoadWhole(d, res + i + 3 * lanes); });
      StoreWhole(d, y0, o + i);
      StoreWhole(d, y1, o + i + lanes);
      StoreWhole(d, y2, o + i + 2 * lanes);
      StoreWhole(d, y3, o + i + 3 * lanes);
    }
    for (; i < whole; i += lanes) {
      StoreWhole(d, sum(hn::LoadU(d, t + i), [&] { return LoadWhole(d, res + i); }), o + i);
    }
    if (rest > 0) {
      namespace tail = kernels::HWY_NAMESPACE;
      tail::StorePart(d,
                      sum(tail::LoadPart(d, t + whole, rest),
                          [&] { return tail::LoadPart(d, res + whole, rest); }),
                      o + whole, rest);
    }
  }
}

template <class T>
bool StoreRowsOf(const ConvActivation& a, const ConvRowsStore& s) {
  switch (a.kind) {
    case K::kNone: StoreRows<K::kNone, T>(a, s); return true;
    case K::kRelu: StoreRows<K::kRelu, T>(a, s); return true;
    case K::kRelu6: StoreRows<K::kRelu6, T>(a, s); return true;
    case K::kClip: StoreRows<K::kClip, T>(a, s); return true;
    case K::kSigmoidHard: StoreRows<K::kSigmoidHard, T>(a, s); return true;
    case K::kThresholdedRelu: StoreRows<K::kThresholdedRelu, T>(a, s); return true;
    case K::kHardSwish: StoreRows<K::kHardSwish, T>(a, s); return true;
    case K::kSigmoid: StoreRows<K::kSigmoid, T>(a, s); return true;
    case K::kSilu: StoreRows<K::kSilu, T>(a, s); return true;
    default: return false;  // gelu
  }
}

bool StoreConvRowsSimd(const ConvActivation& a, const ConvRowsStore& s) {
  if (!s.half) return StoreRowsOf<float>(a, s);
#if COREML_HWY_NATIVE_F16
  return StoreRowsOf<uint16_t>(a, s);
#else
  return false;
#endif
}

bool ActivatePiecewiseToHalfSimd(const ConvActivation& a, const float* in, uint16_t* out,
                                 int64_t n) {
  switch (a.kind) {
    case K::kNone: return ActivateToHalf<K::kNone>(a, in, out, n);
    case K::kRelu: return ActivateToHalf<K::kRelu>(a, in, out, n);
    case K::kRelu6: return ActivateToHalf<K::kRelu6>(a, in, out, n);
    case K::kClip: return ActivateToHalf<K::kClip>(a, in, out, n);
    case K::kSigmoidHard: return ActivateToHalf<K::kSigmoidHard>(a, in, out, n);
    case K::kThresholdedRelu: return ActivateToHalf<K::kThresholdedRelu>(a, in, out, n);
    case K::kHardSwish: return ActivateToHalf<K::kHardSwish>(a, in, out, n);
    default: return false;  // the smooth kinds: two passes
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
HWY_EXPORT(ActivatePiecewiseToHalfSimd);
HWY_EXPORT(StoreConvRowsSimd);

bool store_conv_rows_simd(const ConvActivation& a, const ConvRowsStore& s) {
  return simd_enabled() && HWY_DYNAMIC_DISPATCH(StoreConvRowsSimd)(a, s);
}

bool activate_piecewise_to_half_simd(const ConvActivation& a, const float* in, uint16_t* out,
                                     int64_t count) {
  return simd_enabled() && HWY_DYNAMIC_DISPATCH(ActivatePiecewiseToHalfSimd)(a, in, out, count);
}

bool activate_piecewise_simd(const ConvActivation& a, const float* in, float* out, int64_t count) {
  if (!simd_enabled()) return false;
  HWY_DYNAMIC_DISPATCH(ActivatePiecewiseSimd)(a, in, out, count);
  return true;
}

}  // namespace coreml::kernels::linalg
#endif
