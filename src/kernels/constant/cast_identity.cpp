// cast and identity.
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/common/convert_simd.h"
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
  // fp32 <-> fp16 (a fp16 model's input and output casts): straight into the output with the
  // SIMD converters, which give the same bits as Tensor::to.
  if (x.is_contiguous() && out.is_contiguous()) {
    if (x.dtype() == DType::kFloat32 && to == DType::kFloat16) {
      f32_to_f16(static_cast<const float*>(x.data()), static_cast<uint16_t*>(out.data()),
                 x.numel());
      return;
    }
    if (x.dtype() == DType::kFloat16 && to == DType::kFloat32) {
      f16_to_f32(static_cast<const uint16_t*>(x.data()), static_cast<float*>(out.data()),
                 x.numel());
      return;
    }
  }
  const Tensor converted = x.to(to).contiguous();
  if (out.numel() > 0) std::memcpy(out.data(), converted.data(), converted.nbytes());
}

}  // namespace

void register_cast_identity_kernels(runtime::KernelRegistry& r) {
  r.add("identity", identity);
  r.add("cast", cast);
}

}  // namespace coreml::kernels
