// Prepared concat (interleave = false): each input, any layout, is copied into its slice of
// the dense output; the slices are planned once per input signature.
#include "kernels/common/layout.h"
#include "kernels/shape/shape_rules.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

using runtime::KernelInit;
using runtime::ReshapeContext;
using runtime::RunContext;

class ConcatKernel final : public runtime::OpKernel {
 public:
  ConcatKernel(std::vector<int> values, int64_t axis) : values_(std::move(values)), axis_(axis) {}

  void reshape(ReshapeContext& ctx) override {
    const Tensor& first = ctx.in(values_[0]);
    const int64_t rank = first.rank();
    // Core ML treats rank-0 values as length-1 vectors here (shape arithmetic of flexible
    // models concatenates scalars); the simple kernel handles that and every other odd case.
    bool any_scalar = false;
    for (int b : values_) any_scalar |= ctx.in(b).rank() == 0;
    if (any_scalar || rank > kMaxLayoutRank) {
      ctx.decline();
      return;
    }
    const auto a = static_cast<size_t>(axis_in_rank(ctx, axis_, rank));
    std::vector<int64_t> out_shape = first.shape();
    out_shape[a] = 0;
    for (int b : values_) {
      const Tensor& t = ctx.in(b);
      if (t.dtype() != first.dtype()) ctx.fail("values have different dtypes");
      if (t.rank() != rank) ctx.fail("values have different ranks");
      for (size_t d = 0; d < static_cast<size_t>(rank); ++d) {
        if (d != a && t.shape()[d] != first.shape()[d]) {
          ctx.fail("values differ in dimension ", d, " outside the concat axis");
        }
      }
      out_shape[a] += t.shape()[a];
    }
    if (ctx.declared_dtype(0) != first.dtype())
      ctx.fail("declared output type differs from the values'");
    const Layout out = Layout::dense(out_shape);
    parts_.clear();
    int64_t offset = 0;
    for (int b : values_) {
      const Tensor& t = ctx.in(b);
      Part p;
      p.binding = b;
      p.source = Layout::of(t);
      p.target = out;
      p.target.shape[a] = t.shape()[a];
      p.offset = offset * out.strides[a];
      offset += t.shape()[a];
      parts_.push_back(p);
    }
    itemsize_ = first.itemsize();
    ctx.set_output(0, std::move(out_shape), first.dtype());
  }

  void run(RunContext& ctx) override {
    auto* dst = static_cast<std::byte*>(ctx.out(0).data());
    for (const Part& p : parts_) {
      copy_elements(static_cast<const std::byte*>(ctx.in(p.binding).data()), p.source,
                    dst + p.offset * static_cast<int64_t>(itemsize_), p.target, itemsize_,
                    &ctx.pool());
    }
  }

 private:
  struct Part {
    int binding;
    Layout source, target;
    int64_t offset;  // elements into the output
  };
  std::vector<int> values_;
  int64_t axis_;
  std::vector<Part> parts_;
  size_t itemsize_ = 1;
};

std::unique_ptr<runtime::OpKernel> make_concat(const KernelInit& init) {
  const auto& p = init.params();
  if (p.get_bool("interleave", false)) return nullptr;
  std::vector<int> values;
  for (size_t i = 0; i < init.binding_count("values"); ++i)
    values.push_back(init.binding("values", i));
  if (values.empty()) return nullptr;
  return std::make_unique<ConcatKernel>(std::move(values), p.get_int("axis"));
}

}  // namespace

void register_concat_kernel(runtime::KernelRegistry& r) { r.add_prepared("concat", make_concat); }

}  // namespace coreml::kernels
