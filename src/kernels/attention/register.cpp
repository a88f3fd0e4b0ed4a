// Registration of the attention kernel family (kernels to come).
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_attention_kernels(runtime::KernelRegistry& r) { (void)r; }

}  // namespace coreml::kernels
