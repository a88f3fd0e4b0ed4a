// Registration of the reduction kernel family: reductions, softmax and normalizations.
#include "kernels/reduction/reduction_kernels.h"

namespace coreml::kernels {

void register_prepared_reduce_kernels(runtime::KernelRegistry& r);
void register_prepared_softmax_kernel(runtime::KernelRegistry& r);
void register_prepared_layer_norm_kernel(runtime::KernelRegistry& r);

void register_reduction_kernels(runtime::KernelRegistry& r) {
  register_reduce_kernels(r);
  register_softmax_kernels(r);
  register_norm_kernels(r);
  register_prepared_reduce_kernels(r);  // one-axis float reductions, prepared
  register_prepared_softmax_kernel(r);
  register_prepared_layer_norm_kernel(r);  // last axis, constant gamma and beta
}

}  // namespace coreml::kernels
