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

// Prepared kernels for a constant weight (nullptr: the op keeps its simple kernel above).
std::unique_ptr<runtime::OpKernel> make_conv(const runtime::KernelInit& init);  // conv_gemm.cpp
std::unique_ptr<runtime::OpKernel> make_conv_transpose(const runtime::KernelInit& init);
std::unique_ptr<runtime::OpKernel> make_linear(const runtime::KernelInit& init);  // linear_gemm
std::unique_ptr<runtime::OpKernel> make_matmul(const runtime::KernelInit& init);

}  // namespace coreml::kernels::linalg
