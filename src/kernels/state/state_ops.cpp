// read_state / write_state: a state input is bound to the State's own memory, so writes are
// in place and persist across predictions.
#include <cstring>

#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

void read_state(runtime::OpContext& ctx) {
  const Tensor& state = ctx.in("input");
  if (ctx.hint(runtime::OpContext::kAliasStateRead)) {
    ctx.set_output(0, state);  // proven: no write to this state while the value lives
    return;
  }
  // Otherwise a copy: later write_state ops must not change a value already read.
  Tensor& out = ctx.allocate_output(0, state.shape(), state.dtype());
  const Tensor packed = state.contiguous();
  if (out.numel() > 0) std::memcpy(out.data(), packed.data(), packed.nbytes());
}

void write_state(runtime::OpContext& ctx) {
  const Tensor& state = ctx.in("input");
  const Tensor& data = ctx.in("data");
  if (data.shape() != state.shape()) {
    ctx.fail("data shape does not match the state's shape");
  }
  const Tensor converted =
      data.dtype() == state.dtype() ? data.contiguous() : data.to(state.dtype());
  if (!state.is_contiguous()) ctx.fail("state memory must be contiguous");
  if (data.dtype() == state.dtype() && data.is_contiguous() && data.data() == state.data()) {
    return;  // updated in place already (slice_update on the state's memory)
  }
  if (state.numel() > 0) std::memcpy(state.data(), converted.data(), converted.nbytes());
}

}  // namespace

void register_state_kernels(runtime::KernelRegistry& r) {
  r.add("read_state", read_state);
  r.add("write_state", write_state);
}

}  // namespace coreml::kernels
