// Registration of the pooling kernel family (kernels to come).
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_pooling_kernels(runtime::KernelRegistry& r) { (void)r; }

}  // namespace coreml::kernels
