// Ops that only change a tensor's shape: reshape, expand_dims, squeeze, flatten2d (views when
// the input is contiguous), and shape (the dimensions as an int32 tensor).
#include <algorithm>

#include "kernels/common/compute.h"
#include "kernels/shape/data_movement.h"
#include "kernels/shape/shape_rules.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

// A contiguous tensor with `x`'s data and `shape` (a view when x is contiguous).
void emit_reshaped(runtime::OpContext& ctx, const Tensor& x, const std::vector<int64_t>& shape) {
  check_rank(ctx, shape.size());
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(count, d, &count)) ctx.fail("invalid target shape");
  }
  if (count != x.numel())
    ctx.fail("cannot reshape ", x.numel(), " elements into a shape of ", count);
  emit_tensor(ctx, 0, x.contiguous().reshape(shape));
}

void reshape(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  emit_reshaped(ctx, x, reshape_rule(ctx, x.shape(), x.numel(), ctx.get_ints("shape")));
}

void expand_dims(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  emit_reshaped(ctx, x, expand_dims_rule(ctx, x.shape(), ctx.get_ints("axes")));
}

void squeeze(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const std::vector<bool> drop = squeeze_rule(ctx, x.shape(), ctx.get_ints_if("axes"));
  std::vector<int64_t> shape;
  for (size_t d = 0; d < drop.size(); ++d) {
    if (!drop[d]) shape.push_back(x.shape()[d]);
  }
  emit_reshaped(ctx, x, shape);
}

// flatten2d(x, axis=1): [prod(shape[:axis]), prod(shape[axis:])].
void flatten2d(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  int64_t axis = ctx.get_int("axis", 1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis > x.rank()) ctx.fail("axis ", axis, " is out of range for rank ", x.rank());
  const std::vector<int64_t> head(x.shape().begin(), x.shape().begin() + axis);
  const std::vector<int64_t> tail(x.shape().begin() + axis, x.shape().end());
  emit_reshaped(ctx, x, {element_count(head), element_count(tail)});
}

void shape_of(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const std::vector<int64_t> dims = x.shape();
  emit(ctx, 0, {static_cast<int64_t>(dims.size())}, dims);
}

// A tuple parameter (one scalar binding per element, as coremltools writes reshape_like's
// begins/ends/end_masks), also accepted as one vector.
std::vector<int64_t> tuple_ints(const runtime::OpContext& ctx, const char* param) {
  if (!ctx.has(param)) return ctx.get_ints(param);  // an attribute
  std::vector<int64_t> values;
  for (size_t i = 0; i < ctx.count(param); ++i) {
    for (int64_t v : load_i64(ctx.value(param, i).dense())) values.push_back(v);
  }
  return values;
}

// reshape_like(x, ref_tensors, begins, ends, end_masks) (iOS16): replaces x's dimensions
// [begins[i], ends[i]) ... by the corresponding dimensions of each reference, in order.
void reshape_like(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const auto refs = ctx.values("ref_tensors");
  const auto begins = tuple_ints(ctx, "begins");
  const auto ends = tuple_ints(ctx, "ends");
  const auto masks = tuple_ints(ctx, "end_masks");
  if (begins.size() != refs.size() || ends.size() != refs.size() || masks.size() != refs.size()) {
    ctx.fail("begins, ends and end_masks need one entry per ref tensor");
  }
  std::vector<int64_t> shape;
  for (size_t i = 0; i < refs.size(); ++i) {
    const auto& ref = refs[i]->shape();
    const auto r = static_cast<int64_t>(ref.size());
    int64_t b = begins[i] < 0 ? begins[i] + r : begins[i];
    int64_t e = masks[i] ? r : (ends[i] < 0 ? ends[i] + r : ends[i]);
    b = std::clamp<int64_t>(b, 0, r);
    e = std::clamp<int64_t>(e, b, r);
    shape.insert(shape.end(), ref.begin() + b, ref.begin() + e);
  }
  emit_reshaped(ctx, x, shape);
}

}  // namespace

void register_reshape_kernels(runtime::KernelRegistry& r) {
  r.add("reshape", reshape);
  r.add("expand_dims", expand_dims);
  r.add("squeeze", squeeze);
  r.add("flatten2d", flatten2d);
  r.add("shape", shape_of);
  r.add("reshape_like", reshape_like);
}

}  // namespace coreml::kernels
