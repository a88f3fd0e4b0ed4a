// Registration of the reduction kernel family (kernels to come).
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_reduction_kernels(runtime::KernelRegistry& r) { (void)r; }

}  // namespace coreml::kernels
