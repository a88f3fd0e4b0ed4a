// Registration of the indexing kernel family (kernels to come).
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_indexing_kernels(runtime::KernelRegistry& r) { (void)r; }

}  // namespace coreml::kernels
