// The linalg family's kernels (each in its own file), registered by register.cpp.
#pragma once

#include <memory>

#include "runtime/kernel_registry.h"
#include "runtime/op_context.h"

namespace coreml::kernels::linalg {

void linear(runtime::OpContext& ctx);
void matmul(runtime::OpContext& ctx);
void conv(runtime::OpContext& ctx);
void conv_transpose(runtime::OpContext& ctx);
void einsum(runtime::OpContext& ctx);

bool is_integer_dtype(DType t);

// The product of the sizes the op's first output declares for dims [first, end) (1 for none):
// 0 when one is not known at load, or past 2^40 (declared sizes come from the file, and no
// real model declares that much). linear_gemm.cpp.
int64_t declared_output_extent(const mil::Operation& op, size_t first, size_t end);

// Prepared kernels for a constant weight (nullptr: the op keeps its simple kernel above).
std::unique_ptr<runtime::OpKernel> make_conv(const runtime::KernelInit& init);  // conv_gemm.cpp
std::unique_ptr<runtime::OpKernel> make_conv_transpose(const runtime::KernelInit& init);
std::unique_ptr<runtime::OpKernel> make_linear(const runtime::KernelInit& init);  // linear_gemm
std::unique_ptr<runtime::OpKernel> make_matmul(const runtime::KernelInit& init);

}  // namespace coreml::kernels::linalg
