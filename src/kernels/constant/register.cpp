// Registration of constants, casts and constexpr (weight decompression) ops.
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_cast_identity_kernels(runtime::KernelRegistry& r);
void register_constexpr_kernels(runtime::KernelRegistry& r);
void register_constexpr_sparse_kernels(runtime::KernelRegistry& r);

void register_constant_kernels(runtime::KernelRegistry& r) {
  register_cast_identity_kernels(r);
  register_constexpr_kernels(r);
  register_constexpr_sparse_kernels(r);
}

}  // namespace coreml::kernels
