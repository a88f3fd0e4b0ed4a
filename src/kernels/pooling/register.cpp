// Registration of the pooling kernel family: pools and upsampling.
#include "kernels/pooling/pooling_kernels.h"

namespace coreml::kernels {

void register_pooling_kernels(runtime::KernelRegistry& r) {
  register_pool_kernels(r);
  register_upsample_kernels(r);
}

}  // namespace coreml::kernels
