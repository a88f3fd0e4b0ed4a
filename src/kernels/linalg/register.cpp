// Registration of the linalg kernel family: linear, matmul, conv, conv_transpose, einsum.
#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/linalg_ops.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

namespace linalg {
bool is_integer_dtype(DType t) {
  return t == DType::kInt8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64 ||
         t == DType::kUInt8 || t == DType::kUInt16;
}
}  // namespace linalg

void register_linalg_kernels(runtime::KernelRegistry& r) {
  r.add("linear", linalg::linear);
  r.add("matmul", linalg::matmul);
  r.add("conv", linalg::conv);
  r.add("conv_transpose", linalg::conv_transpose);
  r.add("einsum", linalg::einsum);
  // Prepared forms: products with a constant weight (decode GEMV, prefill GEMM).
  r.add_prepared("conv", linalg::make_conv);
  r.add_prepared("conv_transpose", linalg::make_conv_transpose);
  r.add_prepared("linear", linalg::make_linear);
  r.add_prepared("matmul", linalg::make_matmul);
  // conv + activation, fused at plan time (runtime/fusion/conv_activation.h).
  r.add("coreml.conv_activation", linalg::conv_activation);
  r.add_prepared("coreml.conv_activation", linalg::make_conv_activation);
  // conv + residual add (+ relu), fused at plan time (runtime/fusion/conv_residual.h): the same
  // kernels, which read the optional "residual" input.
  r.add("coreml.conv_residual", linalg::conv_activation);
  r.add_prepared("coreml.conv_residual", linalg::make_conv_activation);
}

}  // namespace coreml::kernels
