// slice_by_index, slice_by_size and slice_update. begin/end may be runtime tensors (ANEMLL
// writes its KV cache with slice_update at a runtime position), so they are read as inputs.
#include <algorithm>
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/indexing/slice_rules.h"
#include "kernels/shape/data_movement.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {

SliceParams read_slice_params(const runtime::OpContext& ctx) {
  SliceParams p;
  p.begin = ctx.get_ints("begin");
  p.end = ctx.get_ints("end");
  if (const auto v = ctx.get_ints_if("stride")) p.stride = *v;
  if (const auto v = ctx.get_ints_if("begin_mask")) p.begin_mask = *v;
  if (const auto v = ctx.get_ints_if("end_mask")) p.end_mask = *v;
  if (const auto v = ctx.get_ints_if("squeeze_mask")) p.squeeze_mask = *v;
  return p;
}

namespace {

// Resolves slice_by_index-style parameters against `shape`.
std::vector<AxisSlice> resolve_slices(const runtime::OpContext& ctx,
                                      const std::vector<int64_t>& shape) {
  const SliceParams params = read_slice_params(ctx);
  if (params.begin.size() != shape.size() || params.end.size() != shape.size() ||
      (!params.stride.empty() && params.stride.size() != shape.size())) {
    ctx.fail("begin, end and stride need ", shape.size(), " entries (got ", params.begin.size(),
             ", ", params.end.size(), ", ",
             params.stride.empty() ? shape.size() : params.stride.size(), ")");
  }
  std::vector<AxisSlice> slices(shape.size());
  kernels::resolve_slices(ctx, shape, params, slices.data());
  return slices;
}

// The strided view of `t` (contiguous) selected by `slices` (squeezed axes kept as size 1).
StridedView sliced_view(const Tensor& t, const std::vector<AxisSlice>& slices) {
  StridedView v = view_of(t);
  const std::vector<int64_t> strides = contiguous_strides(t.shape());
  int64_t offset = 0;
  for (size_t d = 0; d < slices.size(); ++d) {
    v.shape[d] = slices[d].count;
    v.strides[d] = strides[d] * slices[d].step;
    if (slices[d].count > 0) offset += slices[d].start * strides[d];
  }
  v.base += offset * static_cast<int64_t>(t.itemsize());
  return v;
}

std::vector<int64_t> squeezed_shape(const std::vector<AxisSlice>& slices) {
  std::vector<int64_t> shape;
  for (const AxisSlice& s : slices) {
    if (!s.squeeze) shape.push_back(s.count);
  }
  return shape;
}

void emit_slice(runtime::OpContext& ctx, const Tensor& x, const std::vector<AxisSlice>& slices) {
  StridedView view = sliced_view(x, slices);
  Tensor& out = allocate_like(ctx, 0, squeezed_shape(slices), x.dtype());
  if (out.numel() > 0) copy_strided(view, static_cast<std::byte*>(out.data()));
}

void slice_by_index(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  emit_slice(ctx, x, resolve_slices(ctx, x.shape()));
}

// slice_by_size(x, begin, size): size -1 means "to the end"; begin may be negative.
void slice_by_size(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const std::vector<int64_t> begin = ctx.get_ints("begin");
  const std::vector<int64_t> size = ctx.get_ints("size");
  const auto rank = static_cast<size_t>(x.rank());
  if (begin.size() != rank || size.size() != rank)
    ctx.fail("begin and size need ", rank, " entries");
  std::vector<AxisSlice> slices(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t n = x.shape()[d];
    const int64_t b = begin[d] < 0 ? begin[d] + n : begin[d];
    if (b < 0 || b > n)
      ctx.fail("begin ", begin[d], " is out of range for axis ", d, " of size ", n);
    const int64_t count = size[d] == -1 ? n - b : size[d];
    if (count < 0 || b + count > n)
      ctx.fail("size ", size[d], " does not fit axis ", d, " of size ", n);
    slices[d] = {b, 1, count, false};
  }
  emit_slice(ctx, x, slices);
}

// slice_update(x, update, begin, end, stride, masks): x with the slice replaced by update
// (whose shape is the slice's, with or without the squeezed axes).
void slice_update(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const std::vector<AxisSlice> slices = resolve_slices(ctx, x.shape());
  const Tensor update = ctx.in("update").contiguous();
  std::vector<int64_t> full;
  for (const AxisSlice& s : slices) full.push_back(s.count);
  if (update.shape() != full && update.shape() != squeezed_shape(slices)) {
    ctx.fail("update shape ", update.to_string(0), " does not match the slice");
  }
  if (update.dtype() != x.dtype()) ctx.fail("update dtype differs from x");
  if (ctx.hint(runtime::OpContext::kUpdateInPlace) && x.is_contiguous() &&
      x.dtype() == ctx.output_dtype(0)) {
    // Proven at load: x dies here and is the state this result is written back to.
    if (update.numel() > 0) {
      scatter_strided(static_cast<const std::byte*>(update.data()), sliced_view(x, slices));
    }
    ctx.set_output(0, x);
    return;
  }
  Tensor& out = allocate_like(ctx, 0, x.shape(), x.dtype());
  if (out.numel() == 0) return;
  const Tensor packed = x.contiguous();
  std::memcpy(out.data(), packed.data(), packed.nbytes());
  if (update.numel() > 0)
    scatter_strided(static_cast<const std::byte*>(update.data()), sliced_view(out, slices));
}

}  // namespace

void register_slice_kernels(runtime::KernelRegistry& r) {
  r.add("slice_by_index", slice_by_index);
  r.add("slice_by_size", slice_by_size);
  r.add("slice_update", slice_update);
}

}  // namespace coreml::kernels
