// linear(x, weight [Dout, Din], bias) = x · weightᵀ + bias.
#include "kernels/common/compute.h"
#include "kernels/linalg/linalg_ops.h"
#include "kernels/linalg/row_product.h"

namespace coreml::kernels::linalg {
void linear(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const runtime::RtValue& weight = ctx.value("weight");
  const auto& wshape = weight.shape();
  if (wshape.size() != 2) ctx.fail("weight must be rank 2 [Dout, Din], got rank ", wshape.size());
  if (x.rank() < 1) ctx.fail("x must have rank >= 1");
  const int64_t dout = wshape[0];
  const int64_t din = wshape[1];
  if (x.shape().back() != din) {
    ctx.fail("x's last dimension ", x.shape().back(), " does not match weight's Din ", din);
  }
  std::vector<int64_t> out_shape = x.shape();
  out_shape.back() = dout;
  const int64_t rows = element_count(std::vector<int64_t>(x.shape().begin(), x.shape().end() - 1));
  const bool has_bias = ctx.has("bias");
  if (has_bias && ctx.in("bias").numel() != dout) {
    ctx.fail("bias has ", ctx.in("bias").numel(), " values, expected Dout = ", dout);
  }

  if (is_integer_dtype(x.dtype())) {
    const auto xv = load_i64(x);
    const auto wv = load_i64(weight.dense());
    const auto bv = has_bias ? load_i64(ctx.in("bias")) : std::vector<int64_t>(dout, 0);
    std::vector<int64_t> out(static_cast<size_t>(rows * dout));
    for (int64_t s = 0; s < rows; ++s) {
      for (int64_t o = 0; o < dout; ++o) {
        int64_t sum = bv[o];
        for (int64_t t = 0; t < din; ++t) sum += xv[s * din + t] * wv[o * din + t];
        out[s * dout + o] = sum;
      }
    }
    emit(ctx, 0, out_shape, out);
    return;
  }

  const auto xv = load_f32(x);
  const auto bv = has_bias ? load_f32(ctx.in("bias")) : std::vector<float>();
  std::vector<float> out(static_cast<size_t>(rows * dout), 0.0f);
  const RowSource w(weight);
  multiply_rows(ctx.pool(), w, 0, dout, xv.data(), rows, has_bias ? bv.data() : nullptr, out.data(),
                /*out_row=*/1, /*out_col=*/dout);
  emit(ctx, 0, out_shape, out);
}

}  // namespace coreml::kernels::linalg
