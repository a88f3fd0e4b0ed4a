// Highway implementation of the fp16 <-> fp32 runs (compiled once per SIMD target). A run's
// last, partial vector is one masked vector on AVX-512 (hwy_tail.h): through the stack it cost
// more than the vector itself, and fp16 models convert many short rows (7 x 7 and 14 x 14).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/common/convert_simd.cpp"
#include "kernels/common/convert_simd.h"

#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <cstring>

#include "kernels/common/hwy_f16.h"
#include "kernels/common/hwy_tail.h"
#include "tensor/half.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void F16ToF32(const uint16_t* src, float* dst, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto* half = reinterpret_cast<const hwy::float16_t*>(src);
  int64_t i = 0;
#if COREML_HWY_NATIVE_F16
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(hn::PromoteTo(d, hn::LoadU(dh, half + i)), d, dst + i);
  if (i < n) {  // the tail as one partial vector (short rows are common)
    PartialVectorFromHalf(d, src + i, dst + i, n - i);
    return;
  }
#else
  (void)lanes;
  (void)half;
  (void)dh;
#endif
  for (; i < n; ++i) dst[i] = fp16_to_float(src[i]);
}

void F32ToF16(const float* src, uint16_t* dst, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  auto* half = reinterpret_cast<hwy::float16_t*>(dst);
  int64_t i = 0;
#if COREML_HWY_NATIVE_F16
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(hn::DemoteTo(dh, hn::LoadU(d, src + i)), dh, half + i);
  if (i < n) {  // the tail as one partial vector
    PartialVector(d, src + i, dst + i, n - i, [](auto v) { return v; });
    return;
  }
#else
  (void)lanes;
  (void)half;
  (void)dh;
#endif
  for (; i < n; ++i) dst[i] = float_to_fp16(src[i]);
}

}  // namespace HWY_NAMESPACE
}  // namespace coreml::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/common/simd.h"

namespace coreml::kernels {

HWY_EXPORT(F16ToF32);
HWY_EXPORT(F32ToF16);

void f16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_float(src[i]);
}

void f32_to_f16_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = float_to_fp16(src[i]);
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(F16ToF32)(src, dst, n);
  } else {
    f16_to_f32_scalar(src, dst, n);
  }
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(F32ToF16)(src, dst, n);
  } else {
    f32_to_f16_scalar(src, dst, n);
  }
}

}  // namespace coreml::kernels
#endif  // HWY_ONCE
