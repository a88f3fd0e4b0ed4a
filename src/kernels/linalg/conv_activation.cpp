// coreml.conv_activation (made by runtime/fusion/conv_activation.cpp): a conv whose result
// goes through one activation. The prepared conv kernels apply it to each result tile; when
// they decline (or the conv has none), the simple conv runs and the activation follows it
// over the output, rounding twice as the separate ops did.
#include <algorithm>
#include <cstring>

#include "kernels/common/convert_simd.h"
#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/linalg_ops.h"

namespace coreml::kernels::linalg {

void conv_activation(runtime::OpContext& ctx) {
  const ConvActivation activation = read_conv_activation(ctx);
  conv(ctx);
  const Tensor& y = ctx.output_value(0).tensor;
  if (!y.is_contiguous()) ctx.fail("the conv's output is not dense");
  constexpr int64_t kChunk = 1024;
  float buf[kChunk];
  const int64_t n = y.numel();
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
