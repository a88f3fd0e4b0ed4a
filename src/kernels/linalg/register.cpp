// Registration of the linalg kernel family (kernels to come).
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_linalg_kernels(runtime::KernelRegistry& r) { (void)r; }

}  // namespace coreml::kernels
