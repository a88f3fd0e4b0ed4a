// reduce_{sum,mean,max,min,prod,l1_norm,l2_norm,log_sum,log_sum_exp,sum_square}(x, axes,
// keep_dims) and reduce_{argmax,argmin}(x, axis, keep_dims, output_dtype).
// Float data reduces in fp32 rows with fp64 accumulators for sums; int32 data reduces exactly
// in int64 (mean and the norms go through fp64 and truncate, as coremltools' NumPy
// definition does with astype).
#include <cmath>
#include <limits>

#include "kernels/reduction/reduction_kernels.h"
#include "kernels/reduction/row_io.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

template <typename E>
double row_max(const E* row, int64_t n) {
  E m = row[0];
  for (int64_t j = 1; j < n; ++j) {
    if (row[j] > m || std::isnan(static_cast<double>(row[j]))) m = row[j];
    if (std::isnan(static_cast<double>(m))) break;
  }
  return static_cast<double>(m);
}

template <typename E>
double row_min(const E* row, int64_t n) {
  E m = row[0];
  for (int64_t j = 1; j < n; ++j) {
    if (row[j] < m || std::isnan(static_cast<double>(row[j]))) m = row[j];
    if (std::isnan(static_cast<double>(m))) break;
  }
  return static_cast<double>(m);
}

// Accumulator: fp64 for float rows, exact int64 for integer rows.
template <typename E>
using Acc = std::conditional_t<std::is_floating_point_v<E>, double, int64_t>;

template <typename E>
double reduce_row(Reduce kind, const E* row, int64_t n) {
  using A = Acc<E>;
  switch (kind) {
    case Reduce::kSum:
    case Reduce::kMean:
    case Reduce::kLogSum: {
      A s = 0;
      for (int64_t j = 0; j < n; ++j) s += static_cast<A>(row[j]);
      const double d = static_cast<double>(s);
      if (kind == Reduce::kMean) return d / static_cast<double>(n);
      return kind == Reduce::kLogSum ? std::log(d) : d;
    }
    case Reduce::kMax: return n == 0 ? -std::numeric_limits<double>::infinity() : row_max(row, n);
    case Reduce::kMin: return n == 0 ? std::numeric_limits<double>::infinity() : row_min(row, n);
    case Reduce::kProd: {
      A p = 1;
      for (int64_t j = 0; j < n; ++j) p *= static_cast<A>(row[j]);
      return static_cast<double>(p);
    }
    case Reduce::kL1: {
      A s = 0;
      for (int64_t j = 0; j < n; ++j)
        s += row[j] < 0 ? -static_cast<A>(row[j]) : static_cast<A>(row[j]);
      return static_cast<double>(s);
    }
    case Reduce::kL2:
    case Reduce::kSumSquare: {
      A s = 0;
      for (int64_t j = 0; j < n; ++j) s += static_cast<A>(row[j]) * static_cast<A>(row[j]);
      const double d = static_cast<double>(s);
      return kind == Reduce::kL2 ? std::sqrt(d) : d;
    }
    case Reduce::kLogSumExp: {
      if (n == 0) return -std::numeric_limits<double>::infinity();
      const double m = row_max(row, n);
      if (std::isinf(m)) return m;  // all -inf, or a +inf that dominates
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(row[j]) - m);
      return std::log(s) + m;
    }
  }
  return 0;
}

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

// First index of the extreme value (NaN counts as the extreme, as NumPy's argmax does).
template <bool kMax, typename E>
int64_t arg_extreme(const E* row, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (std::isnan(static_cast<double>(row[j]))) return j;
    if (kMax ? row[j] > row[best] : row[j] < row[best]) best = j;
  }
  return best;
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
