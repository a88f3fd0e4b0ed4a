// The pieces of the attention family; register.cpp calls each.
#pragma once

#include "runtime/kernel_registry.h"

namespace coreml::kernels {
void register_sdpa_kernels(runtime::KernelRegistry& r);  // scaled_dot_product_attention
}  // namespace coreml::kernels
