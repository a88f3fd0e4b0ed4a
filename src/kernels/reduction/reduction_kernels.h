// The pieces of the reduction family; register.cpp calls each.
#pragma once

#include "runtime/kernel_registry.h"

namespace coreml::kernels {
void register_reduce_kernels(runtime::KernelRegistry& r);   // reduce_*
void register_softmax_kernels(runtime::KernelRegistry& r);  // softmax
void register_norm_kernels(runtime::KernelRegistry& r);     // layer/batch/instance/l2/lrn norms
}  // namespace coreml::kernels
