// Registration entry points of the elementwise family's files (called by register.cpp).
#pragma once

#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_binary_kernels(runtime::KernelRegistry& r);      // binary_ops.cpp
void register_unary_kernels(runtime::KernelRegistry& r);       // unary_ops.cpp
void register_activation_kernels(runtime::KernelRegistry& r);  // activation_ops.cpp

}  // namespace coreml::kernels
