// The pieces of the pooling family; register.cpp calls each.
#pragma once

#include "runtime/kernel_registry.h"

namespace coreml::kernels {
void register_pool_kernels(runtime::KernelRegistry& r);  // max_pool, avg_pool, l2_pool
void register_upsample_kernels(
    runtime::KernelRegistry& r);  // upsample_nearest_neighbor, upsample_bilinear
}  // namespace coreml::kernels
