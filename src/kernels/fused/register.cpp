// Registration of the internal ops the fusion passes create (runtime/fusion). They only exist
// in rewritten functions, which only run with prepared kernels; their simple kernel reports
// that misuse instead of computing.
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

namespace fused {
std::unique_ptr<runtime::OpKernel> make_rms_norm(const runtime::KernelInit& init);
std::unique_ptr<runtime::OpKernel> make_rope(const runtime::KernelInit& init);
std::unique_ptr<runtime::OpKernel> make_attention(const runtime::KernelInit& init);
}  // namespace fused

namespace {
void prepared_only(runtime::OpContext& ctx) {
  ctx.fail("is an internal fused op: it runs only through its prepared kernel");
}
}  // namespace

void register_fused_kernels(runtime::KernelRegistry& r) {
  for (const char* op : {"coreml.rms_norm", "coreml.rope", "coreml.attention"}) {
    r.add(op, prepared_only);
  }
  r.add_prepared("coreml.rms_norm", fused::make_rms_norm);
  r.add_prepared("coreml.rope", fused::make_rope);
  r.add_prepared("coreml.attention", fused::make_attention);
}

}  // namespace coreml::kernels
