// Prepared slice_update: x with a slice replaced by `update`. begin/end may be runtime values
// (ANEMLL writes its KV cache at the current position), so they are resolved in run(), with
// fixed-size arrays. When the load-time proof allows (OpContext::kUpdateInPlace), the output
// is x itself — the state's memory — and only the slice is written.
#include <array>
#include <cstring>

#include "kernels/common/layout.h"
#include "kernels/indexing/slice_rules.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

using runtime::KernelInit;
using runtime::ReshapeContext;
using runtime::RunContext;

class SliceUpdateKernel final : public runtime::OpKernel {
 public:
  SliceUpdateKernel(const KernelInit& init, SliceParams params)
      : x_(init.binding("x")),
        update_(init.binding("update")),
        begin_(init.binding("begin")),
        end_(init.binding("end")),
        params_(std::move(params)),
        op_(init.op()) {}

  void reshape(ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    const Tensor& update = ctx.in(update_);
    if (update.dtype() != x.dtype()) ctx.fail("update dtype differs from x");
    if (ctx.declared_dtype(0) != x.dtype()) ctx.fail("declared output type differs from x");
    if (x.rank() > kMaxLayoutRank) ctx.fail("rank ", x.rank(), " is too large");
    shape_ = x.shape();
    in_place_ = ctx.hint(runtime::OpContext::kUpdateInPlace) && x.is_contiguous();
    x_layout_ = Layout::of(x);
    out_layout_ = Layout::dense(shape_);
    update_layout_ = Layout::of(update);
    update_shape_ = update.shape();
    if (in_place_) {
      ctx.set_output_alias(0, x_, shape_);
    } else {
      ctx.set_output(0, shape_, x.dtype());
    }
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    const Tensor& update = ctx.in(update_);
    Tensor& out = ctx.out(0);
    const size_t rank = shape_.size();
    std::array<int64_t, kMaxLayoutRank> begin{}, end{};
    read_bound(ctx, begin_, params_.begin, begin.data(), rank, "begin");
    read_bound(ctx, end_, params_.end, end.data(), rank, "end");
    std::array<AxisSlice, kMaxLayoutRank> slices;
    resolve_slices(*this, shape_, begin.data(), end.data(), params_, slices.data());
    // The update has the slice's shape, with or without the squeezed axes.
    Layout target = out_layout_;
    int64_t offset = 0;
    bool full_match = update_shape_.size() == rank, squeezed_match = true;
    size_t u = 0;
    for (size_t d = 0; d < rank; ++d) {
      const AxisSlice& s = slices[d];
      if (full_match && update_shape_[d] != s.count) full_match = false;
      if (!s.squeeze) {
        if (u >= update_shape_.size() || update_shape_[u] != s.count) squeezed_match = false;
        ++u;
      }
      target.shape[d] = s.count;
      if (s.count > 0) offset += s.start * out_layout_.strides[d];
      target.strides[d] = out_layout_.strides[d] * s.step;
    }
    if (u != update_shape_.size()) squeezed_match = false;
    if (!full_match && !squeezed_match) fail("update shape does not match the slice");
    auto* dst = static_cast<std::byte*>(out.data());
    const size_t item = x.itemsize();
    if (!in_place_ && x.numel() > 0) {
      copy_elements(static_cast<const std::byte*>(x.data()), x_layout_, dst, out_layout_, item,
                    &ctx.pool());
    }
    if (update.numel() == 0) return;
    // The update's elements in C order over the slice's full shape.
    Layout source = target;
    int64_t next = update_layout_.rank;
    for (size_t d = rank; d-- > 0;) {
      if (slices[d].squeeze && !full_match) {
        source.strides[d] = 0;
      } else {
        source.strides[d] = update_layout_.strides[static_cast<size_t>(--next)];
      }
    }
    copy_elements(static_cast<const std::byte*>(update.data()), source,
                  dst + offset * static_cast<int64_t>(item), target, item, &ctx.pool());
  }

  int in_place_input() const override { return -1; }  // state updates go through the hints

  template <typename... Args>
  [[noreturn]] void fail(Args&&... args) const {
    const std::string name = op_.name();
    coreml::fail(ErrorCode::kInvalidArgument, "op '", name,
                 "' (slice_update): ", std::forward<Args>(args)...);
  }

 private:
  void read_bound(const RunContext& ctx, int binding, const std::vector<int64_t>& constant,
                  int64_t* out, size_t rank, const char* what) const {
    if (binding < 0 || ctx.value(binding).constant) {
      if (constant.size() != rank) fail(what, " needs ", rank, " entries");
      for (size_t d = 0; d < rank; ++d) out[d] = constant[d];
      return;
    }
    const Tensor& t = ctx.in(binding);
    if (t.numel() != static_cast<int64_t>(rank) || !t.is_contiguous()) {
      fail(what, " needs ", rank, " entries, got ", t.numel());
    }
    if (t.dtype() == DType::kInt32) {
      const auto* p = static_cast<const int32_t*>(t.data());
      for (size_t d = 0; d < rank; ++d) out[d] = p[d];
    } else if (t.dtype() == DType::kInt64) {
      const auto* p = static_cast<const int64_t*>(t.data());
      for (size_t d = 0; d < rank; ++d) out[d] = p[d];
    } else {
      fail(what, " must hold integers");
    }
  }

  int x_, update_, begin_, end_;
  SliceParams params_;
  const mil::Operation& op_;
  std::vector<int64_t> shape_, update_shape_;
  bool in_place_ = false;
  Layout x_layout_, out_layout_, update_layout_;
};

std::unique_ptr<runtime::OpKernel> make_slice_update(const KernelInit& init) {
  if (init.binding("x") < 0 || init.binding("update") < 0) return nullptr;
  for (const char* p : {"stride", "begin_mask", "end_mask", "squeeze_mask"}) {
    const int b = init.binding(p);
    if (b >= 0 && !init.constant(b)) return nullptr;
  }
  SliceParams params;
  const auto& ctx = init.params();
  const auto read_if_constant = [&](const char* name, std::vector<int64_t>& into) {
    const int b = init.binding(name);
    if (b >= 0 ? init.constant(b) != nullptr : ctx.has_param(name)) into = ctx.get_ints(name);
  };
  read_if_constant("begin", params.begin);
  read_if_constant("end", params.end);
  if (const auto v = ctx.get_ints_if("stride")) params.stride = *v;
  if (const auto v = ctx.get_ints_if("begin_mask")) params.begin_mask = *v;
  if (const auto v = ctx.get_ints_if("end_mask")) params.end_mask = *v;
  if (const auto v = ctx.get_ints_if("squeeze_mask")) params.squeeze_mask = *v;
  return std::make_unique<SliceUpdateKernel>(init, std::move(params));
}

}  // namespace

void register_slice_update_kernel(runtime::KernelRegistry& r) {
  r.add_prepared("slice_update", make_slice_update);
  r.declare_update_input("slice_update", "x");
}

}  // namespace coreml::kernels
