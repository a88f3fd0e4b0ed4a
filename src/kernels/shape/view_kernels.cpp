// Prepared kernels of the ops that only re-describe memory: reshape, expand_dims, squeeze,
// flatten2d, transpose, identity, and slice_by_index / slice_by_size with constant bounds.
// Each output is a view of its input wherever a strided layout can express it (the planner
// then allocates nothing for it); otherwise run() copies into a dense output.
#include <algorithm>

#include "kernels/common/layout.h"
#include "kernels/indexing/slice_rules.h"
#include "kernels/shape/shape_rules.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

using runtime::KernelInit;
using runtime::ReshapeContext;
using runtime::RunContext;

std::vector<int64_t> dense_strides_of(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// How an output re-describes x: a view (shape, strides, offset over x's elements) or a
// dense copy of `shape` whose elements are read from x through read_shape/read_strides
// starting `offset` elements after x's first (same element count, C order).
struct Described {
  std::vector<int64_t> shape;
  bool view = true;
  std::vector<int64_t> strides;
  int64_t offset = 0;
  std::vector<int64_t> read_shape, read_strides;
};

class LayoutKernel : public runtime::OpKernel {
 public:
  explicit LayoutKernel(int x) : x_(x) {}

  void reshape(ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    if (ctx.declared_dtype(0) != x.dtype()) {
      ctx.fail("declared output type ", dtype_name(ctx.declared_dtype(0)), " differs from x's ",
               dtype_name(x.dtype()));
    }
    Described d = describe(ctx, x);
    copy_ = !d.view;
    if (d.view) {
      ctx.set_output_view(0, x_, d.offset, std::move(d.shape), std::move(d.strides));
      return;
    }
    source_ = Layout::of(d.read_shape, d.read_strides);
    source_offset_ = d.offset;
    dense_ = Layout::dense(d.read_shape);
    ctx.set_output(0, std::move(d.shape), x.dtype());
  }

  void run(RunContext& ctx) override {
    if (!copy_) return;
    const Tensor& x = ctx.in(x_);
    const auto* src = static_cast<const std::byte*>(x.data()) +
                      source_offset_ * static_cast<int64_t>(x.itemsize());
    copy_elements(src, source_, static_cast<std::byte*>(ctx.out(0).data()), dense_, x.itemsize(),
                  &ctx.pool());
  }

 protected:
  virtual Described describe(const ReshapeContext& ctx, const Tensor& x) = 0;
  int x_;

 private:
  bool copy_ = false;
  Layout source_, dense_;
  int64_t source_offset_ = 0;
};

// reshape-like ops: the output has x's elements in C order with another shape.
class ReshapeKernel final : public LayoutKernel {
 public:
  enum class Kind { kReshape, kExpandDims, kSqueeze, kFlatten2d, kIdentity };
  ReshapeKernel(int x, Kind kind, std::vector<int64_t> param, bool has_param)
      : LayoutKernel(x), kind_(kind), param_(std::move(param)), has_param_(has_param) {}

 protected:
  Described describe(const ReshapeContext& ctx, const Tensor& x) override {
    Described d;
    switch (kind_) {
      case Kind::kReshape: d.shape = reshape_rule(ctx, x.shape(), x.numel(), param_); break;
      case Kind::kExpandDims: d.shape = expand_dims_rule(ctx, x.shape(), param_); break;
      case Kind::kSqueeze: {
        const auto drop =
            squeeze_rule(ctx, x.shape(),
                         has_param_ ? std::optional<std::vector<int64_t>>(param_) : std::nullopt);
        // Dropping size-1 dimensions keeps every other stride: always a view.
        for (size_t i = 0; i < drop.size(); ++i) {
          if (drop[i]) continue;
          d.shape.push_back(x.shape()[i]);
          d.strides.push_back(x.strides()[i]);
        }
        return d;
      }
      case Kind::kFlatten2d: {
        int64_t axis = has_param_ ? param_.at(0) : 1;
        if (axis < 0) axis += x.rank();
        if (axis < 0 || axis > x.rank()) {
          ctx.fail("axis ", axis, " is out of range for rank ", x.rank());
        }
        int64_t head = 1, tail = 1;
        for (int64_t i = 0; i < x.rank(); ++i) {
          (i < axis ? head : tail) *= x.shape()[static_cast<size_t>(i)];
        }
        d.shape = {head, tail};
        break;
      }
      case Kind::kIdentity:
        d.shape = x.shape();
        d.strides = x.strides();
        return d;
    }
    if (x.is_contiguous()) {
      d.strides = dense_strides_of(d.shape);
      return d;
    }
    d.view = false;  // a strided x: copy its elements in C order
    d.read_shape = x.shape();
    d.read_strides = x.strides();
    return d;
  }

 private:
  Kind kind_;
  std::vector<int64_t> param_;
  bool has_param_;
};

class TransposeKernel final : public LayoutKernel {
 public:
  TransposeKernel(int x, std::vector<int64_t> perm) : LayoutKernel(x), perm_(std::move(perm)) {}

 protected:
  Described describe(const ReshapeContext& ctx, const Tensor& x) override {
    const auto axes = permutation_rule(ctx, perm_, x.rank());
    Described d;  // a permuted view is always possible
    for (size_t i = 0; i < axes.size(); ++i) {
      d.shape.push_back(x.shape()[axes[i]]);
      d.strides.push_back(x.strides()[axes[i]]);
    }
    return d;
  }

 private:
  std::vector<int64_t> perm_;
};

class SliceKernel final : public LayoutKernel {
 public:
  SliceKernel(int x, SliceParams params) : LayoutKernel(x), params_(std::move(params)) {}

 protected:
  Described describe(const ReshapeContext& ctx, const Tensor& x) override {
    std::array<AxisSlice, kMaxLayoutRank> slices;
    if (x.shape().size() > slices.size()) ctx.fail("rank ", x.rank(), " is too large");
    resolve_slices(ctx, x.shape(), params_, slices.data());
    Described d;
    bool negative = false;
    for (size_t i = 0; i < x.shape().size(); ++i) {
      const AxisSlice& s = slices[i];
      if (s.count > 0) d.offset += s.start * x.strides()[i];
      d.read_shape.push_back(s.count);
      d.read_strides.push_back(x.strides()[i] * s.step);
      negative |= s.step < 0 && s.count > 1;
      if (s.squeeze) continue;
      d.shape.push_back(s.count);
      d.strides.push_back(x.strides()[i] * s.step);
    }
    // Views take no negative strides: reversed axes are copied.
    d.view = !negative;
    if (d.view) {
      for (auto& stride : d.strides) stride = std::max<int64_t>(stride, 0);
    }
    return d;
  }

 private:
  SliceParams params_;
};

// ---- factories ----

std::unique_ptr<runtime::OpKernel> make_reshape(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0 || !init.constant(init.binding("shape"))) return nullptr;
  return std::make_unique<ReshapeKernel>(x, ReshapeKernel::Kind::kReshape,
                                         init.params().get_ints("shape"), true);
}

std::unique_ptr<runtime::OpKernel> make_expand_dims(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  return std::make_unique<ReshapeKernel>(x, ReshapeKernel::Kind::kExpandDims,
                                         init.params().get_ints("axes"), true);
}

std::unique_ptr<runtime::OpKernel> make_squeeze(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  const auto axes = init.params().get_ints_if("axes");
  return std::make_unique<ReshapeKernel>(x, ReshapeKernel::Kind::kSqueeze,
                                         axes.value_or(std::vector<int64_t>{}), axes.has_value());
}

std::unique_ptr<runtime::OpKernel> make_flatten2d(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  const bool has_axis = init.params().has_param("axis");
  return std::make_unique<ReshapeKernel>(
      x, ReshapeKernel::Kind::kFlatten2d,
      has_axis ? std::vector<int64_t>{init.params().get_int("axis")} : std::vector<int64_t>{},
      has_axis);
}

std::unique_ptr<runtime::OpKernel> make_identity(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  return std::make_unique<ReshapeKernel>(x, ReshapeKernel::Kind::kIdentity, std::vector<int64_t>{},
                                         false);
}

std::unique_ptr<runtime::OpKernel> make_transpose(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  return std::make_unique<TransposeKernel>(x, init.params().get_ints("perm"));
}

std::unique_ptr<runtime::OpKernel> make_slice_by_index(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  for (const char* p : {"begin", "end", "stride", "begin_mask", "end_mask", "squeeze_mask"}) {
    const int b = init.binding(p);
    if (b >= 0 && !init.constant(b)) return nullptr;  // runtime bounds: the simple kernel
  }
  return std::make_unique<SliceKernel>(x, read_slice_params(init.params()));
}

}  // namespace

void register_view_kernels(runtime::KernelRegistry& r) {
  r.add_prepared("reshape", make_reshape);
  r.add_prepared("expand_dims", make_expand_dims);
  r.add_prepared("squeeze", make_squeeze);
  r.add_prepared("flatten2d", make_flatten2d);
  r.add_prepared("transpose", make_transpose);
  r.add_prepared("identity", make_identity);
}

void register_slice_view_kernel(runtime::KernelRegistry& r) {
  r.add_prepared("slice_by_index", make_slice_by_index);
}

}  // namespace coreml::kernels
