// coreml.conv_activation (made by runtime/fusion/conv_activation.cpp): a conv whose result
// goes through one activation; coreml.conv_residual (runtime/fusion/conv_residual.cpp): a conv
// whose result is added to a residual, then optionally activated. The prepared conv kernels
// apply both to each result tile; when they decline (or the conv has none), the simple conv
// runs and the add and the activation follow it over the output, rounding as the separate
// ops did.
#include <algorithm>
#include <cstring>

#include "kernels/common/convert_simd.h"
#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/linalg_ops.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

// y += residual, element for element, rounded to y's type (the separate add op's result).
void add_residual(const runtime::OpContext& ctx, const Tensor& y) {
  const Tensor r = ctx.in("residual").contiguous();
  if (r.shape() != y.shape() || r.dtype() != y.dtype()) {
    ctx.fail("the residual is ", dtype_name(r.dtype()), " ", r.to_string(0), ", the conv's result ",
             dtype_name(y.dtype()), " ", y.to_string(0), ": they must match");
  }
  const int64_t n = y.numel();
  if (y.dtype() == DType::kFloat32) {
    float* v = static_cast<float*>(y.data());
    const float* a = r.data<float>();
    for (int64_t i = 0; i < n; ++i) v[i] += a[i];
  } else if (y.dtype() == DType::kFloat16) {
    auto* v = static_cast<uint16_t*>(y.data());
    const auto* a = static_cast<const uint16_t*>(r.data());
    for (int64_t i = 0; i < n; ++i) v[i] = float_to_fp16(fp16_to_float(v[i]) + fp16_to_float(a[i]));
  } else {
    ctx.fail("a fused residual needs a fp32 or fp16 output, got ", dtype_name(y.dtype()));
  }
}

}  // namespace

void conv_activation(runtime::OpContext& ctx) {
  const ConvActivation activation = read_conv_activation(ctx);
  conv(ctx);
  const Tensor& y = ctx.output_value(0).tensor;
  if (!y.is_contiguous()) ctx.fail("the conv's output is not dense");
  constexpr int64_t kChunk = 1024;
  float buf[kChunk];
  const int64_t n = y.numel();
  if (ctx.has("residual")) add_residual(ctx, y);
  if (!activation.active()) return;
  if (y.dtype() == DType::kFloat32) {
    activation.apply(y.data<float>(), n);
  } else if (y.dtype() == DType::kFloat16) {
    auto* half = static_cast<uint16_t*>(y.data());
    for (int64_t i = 0; i < n; i += kChunk) {
      const int64_t count = std::min(kChunk, n - i);
      f16_to_f32(half + i, buf, count);
      activation.apply(buf, count);
      f32_to_f16(buf, half + i, count);
    }
  } else {
    ctx.fail("a fused activation needs a fp32 or fp16 output, got ", dtype_name(y.dtype()));
  }
}

std::unique_ptr<runtime::OpKernel> make_conv_activation(const runtime::KernelInit& init) {
  return make_conv_kernel(init, read_conv_activation(init.params()));
}

}  // namespace coreml::kernels::linalg
