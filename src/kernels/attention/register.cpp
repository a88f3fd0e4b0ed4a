// Registration of the attention kernel family.
#include "kernels/attention/attention_kernels.h"

namespace coreml::kernels {

void register_attention_kernels(runtime::KernelRegistry& r) { register_sdpa_kernels(r); }

}  // namespace coreml::kernels
