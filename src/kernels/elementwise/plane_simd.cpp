// Compiled once per SIMD target by Highway's foreach_target (see plane_simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise/plane_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "kernels/elementwise/plane_simd.h"

#include "kernels/common/float_element.h"
#include "kernels/common/hwy_f16.h"
#include "kernels/common/hwy_tail.h"
#include "kernels/common/simd.h"
#include "tensor/half.h"

// The scalar twins (COREML_SIMD=0, and the tails and non-F16C targets of the SIMD loops) read
// and write elements through float_element.h.

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Four independent accumulators so the additions do not wait on each other.
float PlaneSum(const void* x, bool half, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  int64_t i = 0;
  if (!half) {
    const auto* p = static_cast<const float*>(x);
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
      a0 = hn::Add(a0, hn::LoadU(d, p + i));
      a1 = hn::Add(a1, hn::LoadU(d, p + i + lanes));
      a2 = hn::Add(a2, hn::LoadU(d, p + i + 2 * lanes));
      a3 = hn::Add(a3, hn::LoadU(d, p + i + 3 * lanes));
    }
    for (; i + lanes <= n; i += lanes) a0 = hn::Add(a0, hn::LoadU(d, p + i));
  } else {
#if COREML_HWY_NATIVE_F16
    const hn::Rebind<hwy::float16_t, decltype(d)> dh;
    const auto* p = static_cast<const hwy::float16_t*>(x);
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
      a0 = hn::Add(a0, hn::PromoteTo(d, hn::LoadU(dh, p + i)));
      a1 = hn::Add(a1, hn::PromoteTo(d, hn::LoadU(dh, p + i + lanes)));
      a2 = hn::Add(a2, hn::PromoteTo(d, hn::LoadU(dh, p + i + 2 * lanes)));
      a3 = hn::Add(a3, hn::PromoteTo(d, hn::LoadU(dh, p + i + 3 * lanes)));
    }
    for (; i + lanes <= n; i += lanes) a0 = hn::Add(a0, hn::PromoteTo(d, hn::LoadU(dh, p + i)));
#endif
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
#if COREML_HWY_NATIVE_F16
  // The last, partial vector widened in one masked load (element by element, an fp16 value
  // cost more than a vector: squeeze-excite's 7 x 7 planes end in one), then added in order.
  if (half && i < n) {
    HWY_ALIGN float tail[hn::MaxLanes(d)];
    hn::Store(LoadPart(d, static_cast<const uint16_t*>(x) + i, static_cast<size_t>(n - i)), d,
              tail);
    for (int64_t j = 0; j < n - i; ++j) sum += tail[j];
    return sum;
  }
#endif
  for (; i < n; ++i) sum += load_float(x, half, i);
  return sum;
}

void PlaneScale(const void* x, bool in_half, float scale, void* out, bool out_half, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto s = hn::Set(d, scale);
  int64_t i = 0;
#if COREML_HWY_NATIVE_F16
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const auto load_vec = [&](int64_t at) {
    return in_half ? hn::PromoteTo(d, hn::LoadU(dh, static_cast<const hwy::float16_t*>(x) + at))
                   : hn::LoadU(d, static_cast<const float*>(x) + at);
  };
  for (; i + lanes <= n; i += lanes) {
    const auto v = hn::Mul(load_vec(i), s);
    if (out_half) {
      hn::StoreU(hn::DemoteTo(dh, v), dh, static_cast<hwy::float16_t*>(out) + i);
    } else {
      hn::StoreU(v, d, static_cast<float*>(out) + i);
    }
  }
  if (i < n) {  // the last, partial vector, in masked loads and stores
    const auto rest = static_cast<size_t>(n - i);
    const auto v = hn::Mul(in_half ? LoadPart(d, static_cast<const uint16_t*>(x) + i, rest)
                                   : LoadPart(d, static_cast<const float*>(x) + i, rest),
                           s);
    if (out_half) {
      StorePart(d, v, static_cast<uint16_t*>(out) + i, rest);
    } else {
      StorePart(d, v, static_cast<float*>(out) + i, rest);
    }
    return;
  }
#else
  if (!in_half && !out_half) {
    for (; i + lanes <= n; i += lanes) {
      hn::StoreU(hn::Mul(hn::LoadU(d, static_cast<const float*>(x) + i), s), d,
                 static_cast<float*>(out) + i);
    }
  }
#endif
  for (; i < n; ++i) store_float(out, out_half, i, load_float(x, in_half, i) * scale);
}

// Two accumulators over pairs of vectors, then whole vectors, then the rest in order; `load`
// gives a's vector at i and `value` its element at i (fp32 or widened fp16: the same sums).
template <class LoadA, class ValueA>
HWY_INLINE float DotOf(LoadA load, ValueA value, const float* b, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    a0 = hn::MulAdd(load(i), hn::LoadU(d, b + i), a0);
    a1 = hn::MulAdd(load(i + lanes), hn::LoadU(d, b + i + lanes), a1);
  }
  for (; i + lanes <= n; i += lanes) a0 = hn::MulAdd(load(i), hn::LoadU(d, b + i), a0);
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  // The rest read into floats first, so that both dtypes add them in one expression (the
  // compiler may fuse a multiply and an add: the same way for both).
  HWY_ALIGN float rest[hn::MaxLanes(d)];
  const int64_t left = n - i;
  for (int64_t j = 0; j < left; ++j) rest[j] = value(i + j);
  for (int64_t j = 0; j < left; ++j) sum += rest[j] * b[i + j];
  return sum;
}

float DotF32(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> d;
  return DotOf([&](int64_t i) { return hn::LoadU(d, a + i); }, [&](int64_t i) { return a[i]; }, b,
               n);
}

// Returns false when this target cannot widen fp16 exactly (the scalar loop runs instead).
bool DotF16(const uint16_t* a, const float* b, int64_t n, float* sum) {
#if COREML_HWY_NATIVE_F16
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const auto* h = reinterpret_cast<const hwy::float16_t*>(a);
  *sum = DotOf([&](int64_t i) { return hn::PromoteTo(d, hn::LoadU(dh, h + i)); },
               [&](int64_t i) { return fp16_to_float(a[i]); }, b, n);
  return true;
#else
  (void)a, (void)b, (void)n, (void)sum;
  return false;
#endif
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels {
HWY_EXPORT(PlaneSum);
HWY_EXPORT(PlaneScale);
HWY_EXPORT(DotF32);
HWY_EXPORT(DotF16);

float plane_sum(const void* x, bool half, int64_t n) {
  if (simd_enabled()) return HWY_DYNAMIC_DISPATCH(PlaneSum)(x, half, n);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += load_float(x, half, i);
  return sum;
}

void plane_scale(const void* x, bool in_half, float scale, void* out, bool out_half, int64_t n) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(PlaneScale)(x, in_half, scale, out, out_half, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) store_float(out, out_half, i, load_float(x, in_half, i) * scale);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  if (simd_enabled()) return HWY_DYNAMIC_DISPATCH(DotF32)(a, b, n);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float dot_f16(const uint16_t* a, const float* b, int64_t n) {
  float sum = 0.0f;
  if (simd_enabled() && HWY_DYNAMIC_DISPATCH(DotF16)(a, b, n, &sum)) return sum;
  for (int64_t i = 0; i < n; ++i) sum += fp16_to_float(a[i]) * b[i];
  return sum;
}

}  // namespace coreml::kernels
#endif  // HWY_ONCE
