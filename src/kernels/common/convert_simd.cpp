// Highway implementation of the fp16 <-> fp32 runs (compiled once per SIMD target). A run's
// last, partial vector is masked on AVX-512 (16-bit lanes have masked loads and stores there):
// through the stack it cost more than the vector itself, and fp16 models convert many short
// rows (7 x 7 and 14 x 14 planes).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/common/convert_simd.cpp"
#include "kernels/common/convert_simd.h"

#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <cstring>

#include "kernels/common/hwy_f16.h"
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
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if (i < n) {  // the tail as one masked vector (masked-off lanes are neither read nor written)
    const hn::Rebind<uint16_t, decltype(d)> du;
    const auto rest = static_cast<size_t>(n - i);
    const auto bits = hn::MaskedLoad(hn::FirstN(du, rest), du, src + i);
    hn::BlendedStore(hn::PromoteTo(d, hn::BitCast(dh, bits)), hn::FirstN(d, rest), d, dst + i);
    return;
  }
#endif
  if (i < n) {  // the tail through a whole vector on the stack (short rows are common)
    HWY_ALIGN uint16_t in[hn::MaxLanes(d)] = {};
    HWY_ALIGN float out[hn::MaxLanes(d)];
    std::memcpy(in, src + i, static_cast<size_t>(n - i) * sizeof(uint16_t));
    hn::Store(hn::PromoteTo(d, hn::Load(dh, reinterpret_cast<const hwy::float16_t*>(in))), d, out);
    std::memcpy(dst + i, out, static_cast<size_t>(n - i) * sizeof(float));
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
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if (i < n) {  // the tail as one masked vector
    const hn::Rebind<uint16_t, decltype(d)> du;
    const auto rest = static_cast<size_t>(n - i);
    const auto v = hn::DemoteTo(dh, hn::MaskedLoad(hn::FirstN(d, rest), d, src + i));
    hn::BlendedStore(hn::BitCast(du, v), hn::FirstN(du, rest), du, dst + i);
    return;
  }
#endif
  if (i < n) {  // the tail through a whole vector on the stack
    HWY_ALIGN float in[hn::MaxLanes(d)] = {};
    HWY_ALIGN uint16_t out[hn::MaxLanes(d)];
    std::memcpy(in, src + i, static_cast<size_t>(n - i) * sizeof(float));
    hn::Store(hn::DemoteTo(dh, hn::Load(d, in)), dh, reinterpret_cast<hwy::float16_t*>(out));
    std::memcpy(dst + i, out, static_cast<size_t>(n - i) * sizeof(uint16_t));
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
