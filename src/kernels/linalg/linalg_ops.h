// The linalg family's kernels (each in its own file), registered by register.cpp.
#pragma once

#include "runtime/op_context.h"

namespace coreml::kernels::linalg {

void linear(runtime::OpContext& ctx);
void matmul(runtime::OpContext& ctx);
void conv(runtime::OpContext& ctx);
void conv_transpose(runtime::OpContext& ctx);
void einsum(runtime::OpContext& ctx);

bool is_integer_dtype(DType t);

}  // namespace coreml::kernels::linalg
