// Compiled once per SIMD target by Highway's foreach_target (see max_pool_simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/pooling/max_pool_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "kernels/pooling/max_pool_simd.h"

#include <algorithm>
#include <limits>

#include "kernels/common/float_element.h"
#include "kernels/common/hwy_f16.h"
#include "kernels/common/simd.h"
#include "tensor/half.h"

// Defined once, although foreach_target includes this file once per target.
#ifndef COREML_MAX_POOL_SIMD_SCALAR
#define COREML_MAX_POOL_SIMD_SCALAR
namespace coreml::kernels {
namespace {

constexpr float kLowest = -std::numeric_limits<float>::infinity();

// The scalar twins: COREML_SIMD=0, the tails, and what a target cannot do in vectors.
void columns_scalar(const void* row, bool half, int64_t from, int64_t n, bool first,
                    float* columns) {
  for (int64_t i = from; i < n; ++i) {
    const float m = first ? kLowest : columns[i];
    const float v = load_float(row, half, i);
    columns[i] = m < v ? v : m;
  }
}

void windows_scalar(const float* columns, int64_t kernel, int64_t stride, int64_t from,
                    int64_t count, void* out, bool out_half) {
  for (int64_t o = from; o < count; ++o) {
    float m = kLowest;
    const float* window = columns + o * stride;
    for (int64_t kx = 0; kx < kernel; ++kx) m = m < window[kx] ? window[kx] : m;
    store_float(out, out_half, o, m);
  }
}

}  // namespace
}  // namespace coreml::kernels
#endif  // COREML_MAX_POOL_SIMD_SCALAR

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void MaxPoolColumns(const void* row, bool half, int64_t n, bool first, float* columns) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto lowest = hn::Set(d, kLowest);
  int64_t i = 0;
  const auto step = [&](auto v) {
    const auto m = first ? lowest : hn::LoadU(d, columns + i);
    hn::StoreU(hn::IfThenElse(hn::Lt(m, v), v, m), d, columns + i);
  };
  if (!half) {
    const auto* p = static_cast<const float*>(row);
    for (; i + lanes <= n; i += lanes) step(hn::LoadU(d, p + i));
  } else {
#if COREML_HWY_NATIVE_F16
    const hn::Rebind<hwy::float16_t, decltype(d)> dh;
    const auto* p = static_cast<const hwy::float16_t*>(row);
    for (; i + lanes <= n; i += lanes) step(hn::PromoteTo(d, hn::LoadU(dh, p + i)));
#endif
  }
  columns_scalar(row, half, i, n, first, columns);
}

// Windows of stride 1 read a vector at each kernel offset; of stride 2, the even lanes of two
// (UNet's 2 x 2 and ResNet's 3 x 3 pools). Other strides stay scalar.
void MaxPoolWindows(const float* columns, int64_t kernel, int64_t stride, int64_t count, void* out,
                    bool out_half) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t o = 0;
  bool vectors = stride == 1 || stride == 2;
#if !COREML_HWY_NATIVE_F16
  vectors = vectors && !out_half;
#endif
  if (vectors) {
    for (; o < count && count >= lanes; o += lanes) {
      // A last, partial vector is the one ending at the last window: it computes again some
      // windows of the vector before (the same values) instead of a scalar loop over the rest
      // (ResNet's 56 outputs a row: 8 of them were a quarter of the op's time).
      o = std::min(o, count - lanes);
      auto m = hn::Set(d, kLowest);
      for (int64_t kx = 0; kx < kernel; ++kx) {
        const float* p = columns + o * stride + kx;
#if HWY_TARGET == HWY_SCALAR
        const auto v = hn::LoadU(d, p);  // one lane: p is the window's column at either stride
#else
        const auto v = stride == 1 ? hn::LoadU(d, p)
                                   : hn::ConcatEven(d, hn::LoadU(d, p + lanes), hn::LoadU(d, p));
#endif
        m = hn::IfThenElse(hn::Lt(m, v), v, m);
      }
      if (out_half) {
#if COREML_HWY_NATIVE_F16
        const hn::Rebind<hwy::float16_t, decltype(d)> dh;
        hn::StoreU(hn::DemoteTo(dh, m), dh, static_cast<hwy::float16_t*>(out) + o);
#endif
      } else {
        hn::StoreU(m, d, static_cast<float*>(out) + o);
      }
    }
  }
  windows_scalar(columns, kernel, stride, o, count, out, out_half);
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels {
HWY_EXPORT(MaxPoolColumns);
HWY_EXPORT(MaxPoolWindows);

void max_pool_columns(const void* row, bool half, int64_t n, bool first, float* columns) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(MaxPoolColumns)(row, half, n, first, columns);
    return;
  }
  columns_scalar(row, half, 0, n, first, columns);
}

void max_pool_windows(const float* columns, int64_t kernel, int64_t stride, int64_t count,
                      void* out, bool out_half) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(MaxPoolWindows)(columns, kernel, stride, count, out, out_half);
    return;
  }
  windows_scalar(columns, kernel, stride, 0, count, out, out_half);
}

}  // namespace coreml::kernels
#endif  // HWY_ONCE
