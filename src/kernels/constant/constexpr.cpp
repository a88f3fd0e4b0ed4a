// constexpr_lut_to_dense, constexpr_affine_dequantize, constexpr_blockwise_shift_scale (to come).
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

void register_constexpr_kernels(runtime::KernelRegistry& r) { (void)r; }

}  // namespace coreml::kernels
