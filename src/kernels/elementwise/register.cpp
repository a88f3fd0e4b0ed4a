// Registration of the elementwise kernel family: binary ops with broadcasting, unary math,
// and activations.
#include "kernels/elementwise/elementwise.h"

namespace coreml::kernels {

void register_prepared_elementwise_kernels(runtime::KernelRegistry& r);
void register_squeeze_excite_kernels(runtime::KernelRegistry& r);

void register_elementwise_kernels(runtime::KernelRegistry& r) {
  register_binary_kernels(r);
  register_unary_kernels(r);
  register_activation_kernels(r);
  register_prepared_elementwise_kernels(r);  // fast float paths of the hot ones
  register_squeeze_excite_kernels(r);        // coreml.squeeze_excite (runtime/fusion)
}

}  // namespace coreml::kernels
