// Registration of the elementwise kernel family (kernels to come).
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_elementwise_kernels(runtime::KernelRegistry& r) { (void)r; }

}  // namespace coreml::kernels
