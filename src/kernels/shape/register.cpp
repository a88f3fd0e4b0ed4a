// Registration of the shape kernel family.
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_reshape_kernels(runtime::KernelRegistry& r);
void register_permute_kernels(runtime::KernelRegistry& r);
void register_join_split_kernels(runtime::KernelRegistry& r);
void register_view_kernels(runtime::KernelRegistry& r);
void register_concat_kernel(runtime::KernelRegistry& r);
void register_window_kernels(runtime::KernelRegistry& r);  // sliding_windows, space/batch

void register_shape_kernels(runtime::KernelRegistry& r) {
  register_reshape_kernels(r);
  register_permute_kernels(r);
  register_join_split_kernels(r);
  register_view_kernels(r);  // prepared forms of reshape, transpose, ...
  register_concat_kernel(r);
  register_window_kernels(r);
}

}  // namespace coreml::kernels
