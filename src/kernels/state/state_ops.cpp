// read_state / write_state: a state input is bound to the State's own memory, so writes are
// in place and persist across predictions.
#include <cstring>

#include "kernels/common/layout.h"
#include "runtime/kernel_registry.h"
#include "tensor/convert.h"

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

// Prepared forms: the same decisions, made once in reshape().
class ReadStateKernel final : public runtime::OpKernel {
 public:
  explicit ReadStateKernel(int input) : input_(input) {}
  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& state = ctx.in(input_);
    alias_ = ctx.hint(runtime::OpContext::kAliasStateRead) && state.is_contiguous();
    if (alias_) {
      ctx.set_output_alias(0, input_, state.shape());
    } else {
      ctx.set_output(0, state.shape(), state.dtype());
      layout_ = Layout::of(state);
      dense_ = Layout::dense(state.shape());
    }
  }
  void run(runtime::RunContext& ctx) override {
    if (alias_) return;
    const Tensor& state = ctx.in(input_);
    copy_elements(static_cast<const std::byte*>(state.data()), layout_,
                  static_cast<std::byte*>(ctx.out(0).data()), dense_, state.itemsize(),
                  &ctx.pool());
  }

 private:
  int input_;
  bool alias_ = false;
  Layout layout_, dense_;
};

class WriteStateKernel final : public runtime::OpKernel {
 public:
  WriteStateKernel(int input, int data) : input_(input), data_(data) {}
  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& state = ctx.in(input_);
    const Tensor& data = ctx.in(data_);
    if (data.shape() != state.shape()) ctx.fail("data shape does not match the state's shape");
    if (!state.is_contiguous()) ctx.fail("state memory must be contiguous");
    if (data.dtype() != state.dtype() && !data.is_contiguous()) {
      ctx.fail("data must be contiguous to be converted to the state's type");
    }
    data_layout_ = Layout::of(data);
    state_layout_ = Layout::dense(state.shape());
  }
  void run(runtime::RunContext& ctx) override {
    Tensor& state = const_cast<Tensor&>(ctx.in(input_));  // states are written in place
    const Tensor& data = ctx.in(data_);
    if (state.numel() == 0) return;
    if (data.dtype() == state.dtype()) {
      if (data.data() == state.data() && data.is_contiguous()) return;  // updated in place
      copy_elements(static_cast<const std::byte*>(data.data()), data_layout_,
                    static_cast<std::byte*>(state.data()), state_layout_, state.itemsize());
      return;
    }
    tensor_detail::convert_elements(data.data(), data.dtype(), state.data(), state.dtype(),
                                    static_cast<size_t>(state.numel()));
  }

 private:
  int input_, data_;
  Layout data_layout_, state_layout_;
};

std::unique_ptr<runtime::OpKernel> make_read_state(const runtime::KernelInit& init) {
  const int input = init.binding("input");
  return input < 0 ? nullptr : std::make_unique<ReadStateKernel>(input);
}

std::unique_ptr<runtime::OpKernel> make_write_state(const runtime::KernelInit& init) {
  const int input = init.binding("input"), data = init.binding("data");
  if (input < 0 || data < 0) return nullptr;
  return std::make_unique<WriteStateKernel>(input, data);
}

}  // namespace

void register_state_kernels(runtime::KernelRegistry& r) {
  r.add("read_state", read_state);
  r.add("write_state", write_state);
  r.add_prepared("read_state", make_read_state);
  r.add_prepared("write_state", make_write_state);
  r.require("read_state", 18);
  r.require("write_state", 18);
}

}  // namespace coreml::kernels
