// Registration of the indexing kernel family.
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_gather_kernels(runtime::KernelRegistry& r);
void register_scatter_kernels(runtime::KernelRegistry& r);
void register_slice_kernels(runtime::KernelRegistry& r);
void register_generate_kernels(runtime::KernelRegistry& r);
void register_sort_kernels(runtime::KernelRegistry& r);
void register_slice_view_kernel(runtime::KernelRegistry& r);
void register_slice_update_kernel(runtime::KernelRegistry& r);
void register_gather_kernel(runtime::KernelRegistry& r);

void register_indexing_kernels(runtime::KernelRegistry& r) {
  register_gather_kernels(r);
  register_scatter_kernels(r);
  register_slice_kernels(r);
  register_generate_kernels(r);
  register_sort_kernels(r);
  register_slice_view_kernel(r);    // prepared slice_by_index (views)
  register_slice_update_kernel(r);  // prepared slice_update (in place on states)
  register_gather_kernel(r);        // prepared gather of rows (embeddings)
}

}  // namespace coreml::kernels
