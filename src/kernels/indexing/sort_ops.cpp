// Ops along one axis that order or accumulate: topk, argsort, cumsum; and non_zero.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels/common/compute.h"
#include "kernels/shape/data_movement.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

// x viewed as [outer, n, inner] around `axis`.
struct AxisLayout {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisLayout layout(const std::vector<int64_t>& shape, int64_t axis) {
  AxisLayout l;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    const int64_t s = shape[static_cast<size_t>(d)];
    if (d < axis)
      l.outer *= s;
    else if (d == axis)
      l.n = s;
    else
      l.inner *= s;
  }
  return l;
}

// For each (outer, inner) line, the first `k` positions along the axis in sorted order
// (stable: ties keep the lower index first, in both directions, like NumPy's argsort of x or
// -x on small arrays). Result laid out as [outer, k, inner].
std::vector<int64_t> sorted_positions(const Tensor& x, const AxisLayout& l, int64_t k,
                                      bool ascending) {
  const std::vector<double> keys = load_f64(x);
  std::vector<int64_t> result(static_cast<size_t>(l.outer * k * l.inner));
  std::vector<int64_t> order(static_cast<size_t>(l.n));
  std::vector<double> line(static_cast<size_t>(l.n));
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t r = 0; r < l.inner; ++r) {
      for (int64_t j = 0; j < l.n; ++j)
        line[static_cast<size_t>(j)] = keys[static_cast<size_t>((o * l.n + j) * l.inner + r)];
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
        const double a = line[static_cast<size_t>(p)], b = line[static_cast<size_t>(q)];
        return ascending ? a < b : a > b;
      });
      for (int64_t j = 0; j < k; ++j)
        result[static_cast<size_t>((o * k + j) * l.inner + r)] = order[static_cast<size_t>(j)];
    }
  }
  return result;
}

// topk(x, k=1, axis=-1, ascending=False, sort=True, return_indices=True): values (and int32
// indices) of the k largest (smallest when ascending) along axis, in sorted order.
void topk(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", -1), x.rank());
  const AxisLayout l = layout(x.shape(), axis);
  int64_t k = ctx.get_int("k", 1);
  if (k == -1) k = l.n;
  if (k < 0 || k > l.n) ctx.fail("k ", k, " is out of range for an axis of size ", l.n);
  const std::vector<int64_t> positions =
      sorted_positions(x, l, k, ctx.get_bool("ascending", false));
  std::vector<int64_t> out_shape = x.shape();
  out_shape[static_cast<size_t>(axis)] = k;
  Tensor& values = allocate_like(ctx, 0, out_shape, x.dtype());
  const size_t item = x.itemsize();
  const auto* src = static_cast<const std::byte*>(x.data());
  auto* dst = static_cast<std::byte*>(values.data());
  size_t e = 0;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t j = 0; j < k; ++j) {
      for (int64_t r = 0; r < l.inner; ++r, ++e) {
        const int64_t at = (o * l.n + positions[e]) * l.inner + r;
        std::memcpy(dst + e * item, src + static_cast<size_t>(at) * item, item);
      }
    }
  }
  if (ctx.output_count() > 1) emit(ctx, 1, out_shape, positions);
}

void argsort(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", -1), x.rank());
  const AxisLayout l = layout(x.shape(), axis);
  emit(ctx, 0, x.shape(), sorted_positions(x, l, l.n, ctx.get_bool("ascending", false)));
}

template <typename T>
std::vector<T> cumulative(std::vector<T> values, const AxisLayout& l, bool exclusive,
                          bool reverse) {
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t r = 0; r < l.inner; ++r) {
      T sum = 0;
      for (int64_t step = 0; step < l.n; ++step) {
        const int64_t j = reverse ? l.n - 1 - step : step;
        T& v = values[static_cast<size_t>((o * l.n + j) * l.inner + r)];
        const T current = v;
        if (exclusive) {
          v = sum;
          sum += current;
        } else {
          sum += current;
          v = sum;
        }
      }
    }
  }
  return values;
}

// cumsum(x, axis=0, exclusive=False, reverse=False): fp32 accumulation for fp16/fp32, fp64
// for fp64, exact int64 for integers.
void cumsum(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", 0), x.rank());
  const AxisLayout l = layout(x.shape(), axis);
  const bool exclusive = ctx.get_bool("exclusive", false), reverse = ctx.get_bool("reverse", false);
  if (x.dtype() == DType::kFloat64) {
    emit(ctx, 0, x.shape(), cumulative(load_f64(x), l, exclusive, reverse));
  } else if (dtype_is_floating(x.dtype())) {
    emit(ctx, 0, x.shape(), cumulative(load_f32(x), l, exclusive, reverse));
  } else {
    emit(ctx, 0, x.shape(), cumulative(load_i64(x), l, exclusive, reverse));
  }
}

// non_zero(x): [count, rank] coordinates of the non-zero elements in C order.
void non_zero(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const std::vector<double> values = load_f64(x);
  const auto& shape = x.shape();
  std::vector<int64_t> coords;
  std::vector<int64_t> index(shape.size(), 0);
  for (double v : values) {
    if (v != 0) coords.insert(coords.end(), index.begin(), index.end());
    for (size_t d = shape.size(); d > 0; --d) {
      if (++index[d - 1] < shape[d - 1]) break;
      index[d - 1] = 0;
    }
  }
  const auto rank = static_cast<int64_t>(shape.size());
  const int64_t count = rank == 0 ? 0 : static_cast<int64_t>(coords.size()) / rank;
  emit(ctx, 0, {count, rank}, coords);
}

}  // namespace

void register_sort_kernels(runtime::KernelRegistry& r) {
  r.add("topk", topk);
  r.add("argsort", argsort);
  r.add("cumsum", cumsum);
  r.add("non_zero", non_zero);
}

}  // namespace coreml::kernels
