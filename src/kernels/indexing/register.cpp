// Registration of the indexing kernel family.
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_gather_kernels(runtime::KernelRegistry& r);
void register_scatter_kernels(runtime::KernelRegistry& r);
void register_slice_kernels(runtime::KernelRegistry& r);
void register_generate_kernels(runtime::KernelRegistry& r);
void register_sort_kernels(runtime::KernelRegistry& r);

void register_indexing_kernels(runtime::KernelRegistry& r) {
  register_gather_kernels(r);
  register_scatter_kernels(r);
  register_slice_kernels(r);
  register_generate_kernels(r);
  register_sort_kernels(r);
}

}  // namespace coreml::kernels
