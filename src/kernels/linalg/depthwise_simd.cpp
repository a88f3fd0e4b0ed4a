// Compiled once per SIMD target by Highway's foreach_target (see depthwise_simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/depthwise_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "kernels/linalg/depthwise_simd.h"

#include "kernels/common/simd.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void DepthwiseRowSimd(const DepthwiseRow& r, float* out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t ow = 0; ow < r.out_w; ow += lanes) {
    auto acc = hn::Set(d, r.bias);
    for (int64_t kh = 0; kh < r.kernel_h; ++kh) {
      const float* w = r.weights + kh * r.kernel_w;
      const float* base = r.lines[kh] + ow * r.stride;
      for (int64_t kw = 0; kw < r.kernel_w; ++kw) {
        const float* src = base + kw * r.dilation;
        if (r.stride == 1) {
          acc = hn::MulAdd(hn::Set(d, w[kw]), hn::LoadU(d, src), acc);
        } else if (r.stride == 2) {
          hn::Vec<decltype(d)> even, odd;
          hn::LoadInterleaved2(d, src, even, odd);  // even: src[0], src[2], ...
          acc = hn::MulAdd(hn::Set(d, w[kw]), even, acc);
        } else {
          HWY_ALIGN float gathered[hn::MaxLanes(d)];
          for (int64_t i = 0; i < lanes; ++i) gathered[i] = src[i * r.stride];
          acc = hn::MulAdd(hn::Set(d, w[kw]), hn::Load(d, gathered), acc);
        }
      }
    }
    hn::StoreU(acc, d, out + ow);
  }
}

}  // namespace coreml::kernels::linalg::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels::linalg {
HWY_EXPORT(DepthwiseRowSimd);

void depthwise_row(const DepthwiseRow& r, float* out) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(DepthwiseRowSimd)(r, out);
    return;
  }
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    float sum = r.bias;
    for (int64_t kh = 0; kh < r.kernel_h; ++kh) {
      const float* line = r.lines[kh] + ow * r.stride;
      for (int64_t kw = 0; kw < r.kernel_w; ++kw) {
        sum += r.weights[kh * r.kernel_w + kw] * line[kw * r.dilation];
      }
    }
    out[ow] = sum;
  }
}

}  // namespace coreml::kernels::linalg
#endif
