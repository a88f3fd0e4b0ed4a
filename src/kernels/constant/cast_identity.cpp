// cast and identity.
#include <cstring>

#include "kernels/common/compute.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

void identity(runtime::OpContext& ctx) { ctx.set_output(0, ctx.in("x")); }

// cast(x, dtype): the declared output type carries the target; MIL's dtype names include
// ones a Tensor lacks (uint32...), which the declared output type has already resolved.
void cast(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const DType to = ctx.output_dtype(0);
  if (x.dtype() == to) {
    ctx.set_output(0, x);
    return;
  }
  Tensor& out = ctx.allocate_output(0, x.shape());
  const Tensor converted = x.to(to).contiguous();
  if (out.numel() > 0) std::memcpy(out.data(), converted.data(), converted.nbytes());
}

}  // namespace

void register_cast_identity_kernels(runtime::KernelRegistry& r) {
  r.add("identity", identity);
  r.add("cast", cast);
}

}  // namespace coreml::kernels
