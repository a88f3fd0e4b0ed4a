// Compiled once per SIMD target by Highway's foreach_target (see band_fill_simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/band_fill_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "kernels/linalg/band_fill_simd.h"

#include <algorithm>

#include "kernels/common/convert_simd.h"
#include "kernels/common/hwy_f16.h"
#include "kernels/common/hwy_tail.h"
#include "kernels/common/simd.h"
#include "tensor/half.h"

// Defined once, although foreach_target includes this file once per target.
#ifndef COREML_BAND_FILL_SIMD_SCALAR
#define COREML_BAND_FILL_SIMD_SCALAR
namespace coreml::kernels::linalg {
namespace {

// The element loop: COREML_SIMD=0, the tails, and strides above 2.
void copy_every_scalar(const void* src, bool half, int64_t stride, int64_t from, int64_t n,
                       float* dst) {
  if (half) {
    const auto* s = static_cast<const uint16_t*>(src);
    for (int64_t j = from; j < n; ++j) dst[j] = fp16_to_float(s[j * stride]);
  } else {
    const auto* s = static_cast<const float*>(src);
    for (int64_t j = from; j < n; ++j) dst[j] = s[j * stride];
  }
}

}  // namespace
}  // namespace coreml::kernels::linalg
#endif  // COREML_BAND_FILL_SIMD_SCALAR

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET != HWY_SCALAR
// Stride 2: outputs [j, j + lanes) are the even lanes of s[2 j, 2 j + 2 lanes). Whole vectors
// while another output follows them (the last one reads one element past its own, still inside);
// then the rest (shorter lines: all of it) from partial, masked loads of exactly the elements
// the outputs need.
template <typename T>
void CopyEveryOther(const T* s, int64_t n, float* dst) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto load = [&](const T* p) {
    if constexpr (sizeof(T) == 2) {
      const hn::Rebind<hwy::float16_t, decltype(d)> dh;
      return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
    } else {
      return hn::LoadU(d, p);
    }
  };
  // `count` (0 to lanes) elements from p.
  const auto load_part = [&](const T* p, int64_t count) {
    if (count == lanes) return load(p);
    if (count == 0) return hn::Zero(d);
    return kernels::HWY_NAMESPACE::LoadPart(d, p, static_cast<size_t>(count));
  };
  int64_t j = 0;
  for (; j + lanes < n; j += lanes) {
    hn::StoreU(hn::ConcatEven(d, load(s + 2 * j + lanes), load(s + 2 * j)), d, dst + j);
  }
  for (; j < n; j += lanes) {
    const int64_t outs = std::min(lanes, n - j);
    const int64_t need = 2 * outs - 1;  // s[2 j, 2 j + need)
    const auto lo = load_part(s + 2 * j, std::min(lanes, need));
    const auto hi = load_part(s + 2 * j + lanes, std::max<int64_t>(0, need - lanes));
    const auto v = hn::ConcatEven(d, hi, lo);
    if (outs == lanes) {
      hn::StoreU(v, d, dst + j);
    } else {
      kernels::HWY_NAMESPACE::StorePart(d, v, dst + j, static_cast<size_t>(outs));
    }
  }
}

#endif  // HWY_TARGET != HWY_SCALAR

// Returns false where this target has no vector form (the element loop runs instead).
bool CopyEvery(const void* src, bool half, int64_t stride, int64_t n, float* dst) {
#if HWY_TARGET == HWY_SCALAR
  (void)src, (void)half, (void)stride, (void)n, (void)dst;
  return false;
#else
  if (stride != 2) return false;
  if (!half) {
    CopyEveryOther(static_cast<const float*>(src), n, dst);
    return true;
  }
#if COREML_HWY_NATIVE_F16
  CopyEveryOther(static_cast<const uint16_t*>(src), n, dst);
  return true;
#else
  return false;
#endif
#endif
}

}  // namespace coreml::kernels::linalg::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels::linalg {
HWY_EXPORT(CopyEvery);

void copy_every(const void* src, bool half, int64_t stride, int64_t n, float* dst) {
  if (n <= 0) return;
  if (stride == 1) {
    // Contiguous: the conversion's own SIMD and scalar forms, or a plain copy.
    if (half) {
      f16_to_f32(static_cast<const uint16_t*>(src), dst, n);
    } else {
      const auto* s = static_cast<const float*>(src);
      std::copy(s, s + n, dst);
    }
    return;
  }
  if (simd_enabled() && HWY_DYNAMIC_DISPATCH(CopyEvery)(src, half, stride, n, dst)) return;
  copy_every_scalar(src, half, stride, 0, n, dst);
}

}  // namespace coreml::kernels::linalg
#endif  // HWY_ONCE
