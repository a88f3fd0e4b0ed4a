// reduce_{sum,mean,max,min,prod,l1_norm,l2_norm,log_sum,log_sum_exp,sum_square}(x, axes,
// keep_dims) and reduce_{argmax,argmin}(x, axis, keep_dims, output_dtype).
// Float data reduces in fp32 rows with fp64 accumulators for sums; int32 data reduces exactly
// in int64 (mean and the norms go through fp64 and truncate, as coremltools' NumPy
// definition does with astype).
#include <cmath>
#include <limits>

#include "kernels/reduction/reduce_rows.h"
#include "kernels/reduction/reduction_kernels.h"
#include "kernels/reduction/row_io.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

bool is_float(DType d) {
  return d == DType::kFloat16 || d == DType::kBFloat16 || d == DType::kFloat32 ||
         d == DType::kFloat64;
}

template <Reduce kKind>
void reduce_kernel(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const auto axes = sorted_axes(ctx, ctx.get_ints_if("axes"), x.rank());
  const bool keep_dims = ctx.get_bool("keep_dims", false);
  const AxisBlock block = axis_block(x, axes);
  const AxisLayout& l = block.layout;
  std::vector<double> results(static_cast<size_t>(l.rows()));
  if (is_float(x.dtype())) {
    const F32Elements data(block.x);
    for_each_row(ctx.pool(), data.data(), l,
                 [&](int64_t r, const float* row) { results[r] = reduce_row(kKind, row, l.n); });
  } else {
    const std::vector<int64_t> data = load_i64(block.x);
    for_each_row(ctx.pool(), data.data(), l,
                 [&](int64_t r, const int64_t* row) { results[r] = reduce_row(kKind, row, l.n); });
  }
  emit(ctx, 0, reduced_shape(x.shape(), axes, keep_dims), results);
}

template <bool kMax>
void arg_kernel(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() == 0) ctx.fail("x must have rank 1 or more");
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", -1), x.rank());
  const bool keep_dims = ctx.get_bool("keep_dims", false);
  const AxisBlock block = axis_block(x, {axis});
  const AxisLayout& l = block.layout;
  if (l.n == 0 && l.rows() > 0)
    ctx.fail("cannot take the arg", kMax ? "max" : "min", " of an empty axis");
  std::vector<int64_t> results(static_cast<size_t>(l.rows()));
  if (is_float(x.dtype())) {
    const F32Elements data(block.x);
    for_each_row(ctx.pool(), data.data(), l,
                 [&](int64_t r, const float* row) { results[r] = arg_extreme<kMax>(row, l.n); });
  } else {
    const std::vector<int64_t> data = load_i64(block.x);
    for_each_row(ctx.pool(), data.data(), l,
                 [&](int64_t r, const int64_t* row) { results[r] = arg_extreme<kMax>(row, l.n); });
  }
  emit(ctx, 0, reduced_shape(x.shape(), {axis}, keep_dims), results);
}

}  // namespace

void register_reduce_kernels(runtime::KernelRegistry& r) {
  r.add("reduce_sum", reduce_kernel<Reduce::kSum>);
  r.add("reduce_mean", reduce_kernel<Reduce::kMean>);
  r.add("reduce_max", reduce_kernel<Reduce::kMax>);
  r.add("reduce_min", reduce_kernel<Reduce::kMin>);
  r.add("reduce_prod", reduce_kernel<Reduce::kProd>);
  r.add("reduce_l1_norm", reduce_kernel<Reduce::kL1>);
  r.add("reduce_l2_norm", reduce_kernel<Reduce::kL2>);
  r.add("reduce_log_sum", reduce_kernel<Reduce::kLogSum>);
  r.add("reduce_log_sum_exp", reduce_kernel<Reduce::kLogSumExp>);
  r.add("reduce_sum_square", reduce_kernel<Reduce::kSumSquare>);
  r.add("reduce_argmax", arg_kernel<true>);
  r.add("reduce_argmin", arg_kernel<false>);
}

}  // namespace coreml::kernels
