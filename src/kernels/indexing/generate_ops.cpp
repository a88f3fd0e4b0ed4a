// Ops that build tensors from parameters or masks: fill, fill_like, range_1d, one_hot,
// band_part, select.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/shape/data_movement.h"
#include "runtime/kernel_registry.h"
#include "runtime/limits.h"
#include "tensor/convert.h"

namespace coreml::kernels {
namespace {

// Fills contiguous `out` with `value` converted to its dtype.
void fill_with(Tensor& out, double value) {
  if (out.numel() == 0) return;
  const size_t item = out.itemsize();
  std::byte pattern[8] = {};
  tensor_detail::store_double(value, out.dtype(), pattern);
  auto* dst = static_cast<std::byte*>(out.data());
  for (int64_t i = 0; i < out.numel(); ++i)
    std::memcpy(dst + static_cast<size_t>(i) * item, pattern, item);
}

void check_shape(const runtime::OpContext& ctx, const std::vector<int64_t>& shape) {
  check_rank(ctx, shape.size());
  for (int64_t d : shape) {
    if (d < 0) ctx.fail("shape has a negative dimension ", d);
  }
}

void fill(runtime::OpContext& ctx) {
  const std::vector<int64_t> shape = ctx.get_ints("shape");
  check_shape(ctx, shape);
  runtime::check_tensor_budget(shape, ctx.output_dtype(0), ctx.where());
  fill_with(ctx.allocate_output(0, shape), ctx.get_float("value", 0.0));
}

void fill_like(runtime::OpContext& ctx) {
  fill_with(ctx.allocate_output(0, ctx.value("ref_tensor").shape()), ctx.get_float("value", 0.0));
}

// Elements of range_1d(end, start, step) for integers, without overflow for any int64 values:
// the distance is taken in uint64 (exact once the sign is known), rounded up by the step.
uint64_t integer_range_count(int64_t start, int64_t end, int64_t step) {
  if (step > 0 && end > start) {
    const uint64_t span = static_cast<uint64_t>(end) - static_cast<uint64_t>(start);
    const uint64_t stride = static_cast<uint64_t>(step);
    return span / stride + (span % stride != 0);
  }
  if (step < 0 && end < start) {
    const uint64_t span = static_cast<uint64_t>(start) - static_cast<uint64_t>(end);
    const uint64_t stride = uint64_t{0} - static_cast<uint64_t>(step);
    return span / stride + (span % stride != 0);
  }
  return 0;
}

// range_1d(end, start, step): start, start + step, ... up to (not including) end.
void range_1d(runtime::OpContext& ctx) {
  const DType dtype = ctx.output_dtype(0);
  if (dtype_is_floating(dtype)) {
    const double start = ctx.get_float("start"), end = ctx.get_float("end"),
                 step = ctx.get_float("step");
    if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step)) {
      ctx.fail("needs a finite range and a non-zero step");
    }
    const double count = std::max(0.0, std::ceil((end - start) / step));
    if (!(count <= 9.0e18)) ctx.fail("range of ", count, " values is too large");
    const auto n = static_cast<uint64_t>(count);
    runtime::check_buffer_budget(n, sizeof(double), detail::cat("a range of ", n, " values"),
                                 ctx.where());
    runtime::check_tensor_budget({static_cast<int64_t>(n)}, dtype, ctx.where());
    std::vector<double> values(static_cast<size_t>(n));
    for (size_t i = 0; i < values.size(); ++i) values[i] = start + static_cast<double>(i) * step;
    emit(ctx, 0, {static_cast<int64_t>(values.size())}, values);
    return;
  }
  const int64_t start = ctx.get_int("start"), end = ctx.get_int("end"), step = ctx.get_int("step");
  if (step == 0) ctx.fail("step is 0");
  const uint64_t count = integer_range_count(start, end, step);
  runtime::check_buffer_budget(count, sizeof(int64_t), detail::cat("a range of ", count, " values"),
                               ctx.where());
  runtime::check_tensor_budget({static_cast<int64_t>(count)}, dtype, ctx.where());
  std::vector<int64_t> values(static_cast<size_t>(count));
  // Every value lies between start and end, but i * step alone can overflow: wrap-around
  // arithmetic in uint64 gives the exact result.
  for (uint64_t i = 0; i < count; ++i) {
    values[i] =
        static_cast<int64_t>(static_cast<uint64_t>(start) + i * static_cast<uint64_t>(step));
  }
  emit(ctx, 0, {static_cast<int64_t>(count)}, values);
}

// one_hot(indices, one_hot_vector_size, axis=-1, on_value=1, off_value=0): a new axis of
// that size; indices outside [0, size) give an all-off vector.
void one_hot(runtime::OpContext& ctx) {
  const Tensor& index_tensor = ctx.in("indices");
  const std::vector<int64_t> indices = read_indices(index_tensor);
  const int64_t depth = ctx.get_int("one_hot_vector_size");
  if (depth < 0 || depth > (int64_t{1} << 32))
    ctx.fail("one_hot_vector_size ", depth, " is out of range");
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", -1), index_tensor.rank() + 1);
  const double on = ctx.get_float("on_value", 1.0), off = ctx.get_float("off_value", 0.0);
  std::vector<int64_t> out_shape = index_tensor.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  check_rank(ctx, out_shape.size());
  runtime::check_tensor_budget(out_shape, ctx.output_dtype(0), ctx.where());
  const auto cells = static_cast<uint64_t>(*runtime::checked_element_count(out_shape));
  runtime::check_buffer_budget(cells, sizeof(double),
                               detail::cat("a scratch buffer of ", cells, " values"), ctx.where());
  const auto& shape = index_tensor.shape();
  const int64_t outer = element_count({shape.begin(), shape.begin() + axis});
  const int64_t inner = element_count({shape.begin() + axis, shape.end()});
  std::vector<double> values(static_cast<size_t>(element_count(out_shape)), off);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t r = 0; r < inner; ++r) {
      const int64_t hot = indices[static_cast<size_t>(o * inner + r)];
      if (hot >= 0 && hot < depth) values[static_cast<size_t>((o * depth + hot) * inner + r)] = on;
    }
  }
  emit(ctx, 0, out_shape, values);
}

// band_part(x, lower=-1, upper=-1): keeps x[..., m, n] where (lower < 0 || m - n <= lower) and
// (upper < 0 || n - m <= upper), zero elsewhere.
void band_part(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  if (x.rank() < 2) ctx.fail("x must have rank >= 2");
  const int64_t lower = ctx.get_int("lower", -1), upper = ctx.get_int("upper", -1);
  Tensor& out = allocate_like(ctx, 0, x.shape(), x.dtype());
  if (out.numel() == 0) return;
  std::memcpy(out.data(), x.data(), x.nbytes());
  std::byte zero[8] = {};
  tensor_detail::store_double(0.0, x.dtype(), zero);
  const int64_t rows = x.shape()[x.shape().size() - 2], cols = x.shape().back();
  const int64_t matrices = x.numel() / (rows * cols);
  const size_t item = x.itemsize();
  auto* dst = static_cast<std::byte*>(out.data());
  for (int64_t b = 0; b < matrices; ++b) {
    for (int64_t m = 0; m < rows; ++m) {
      for (int64_t n = 0; n < cols; ++n) {
        const bool keep = (lower < 0 || m - n <= lower) && (upper < 0 || n - m <= upper);
        if (!keep)
          std::memcpy(dst + static_cast<size_t>((b * rows + m) * cols + n) * item, zero, item);
      }
    }
  }
}

// NumPy broadcast of several shapes (Error when incompatible).
std::vector<int64_t> broadcast_shape(const runtime::OpContext& ctx,
                                     const std::vector<std::vector<int64_t>>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  check_rank(ctx, rank);
  std::vector<int64_t> out(rank, 1);
  for (const auto& s : shapes) {
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[rank - s.size() + i];
      if (s[i] == o || s[i] == 1) continue;
      if (o != 1) ctx.fail("shapes cannot be broadcast together");
      o = s[i];
    }
  }
  return out;
}

// The read pattern of contiguous `t` broadcast to `shape` (zero strides on expanded dims).
StridedView broadcast_view(const Tensor& t, const std::vector<int64_t>& shape) {
  StridedView v = view_of(t);
  const std::vector<int64_t> strides = contiguous_strides(t.shape());
  v.shape = shape;
  v.strides.assign(shape.size(), 0);
  const size_t lead = shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (t.shape()[i] != 1) v.strides[lead + i] = strides[i];
  }
  return v;
}

// select(cond, a, b): a where cond is true, else b, all broadcast together.
void select(runtime::OpContext& ctx) {
  const DType dtype = ctx.output_dtype(0);
  const Tensor cond = ctx.in("cond").to(DType::kBool);
  const Tensor& a_in = ctx.in("a");
  const Tensor& b_in = ctx.in("b");
  const Tensor a = a_in.dtype() == dtype ? a_in.contiguous() : a_in.to(dtype);
  const Tensor b = b_in.dtype() == dtype ? b_in.contiguous() : b_in.to(dtype);
  const std::vector<int64_t> shape = broadcast_shape(ctx, {cond.shape(), a.shape(), b.shape()});
  Tensor& out = ctx.allocate_output(0, shape, dtype);
  const int64_t n = out.numel();
  if (n == 0) return;
  auto* dst = static_cast<std::byte*>(out.data());
  copy_strided(broadcast_view(a, shape), dst);
  std::vector<std::byte> mask(static_cast<size_t>(n));
  copy_strided(broadcast_view(cond, shape), mask.data());
  std::vector<std::byte> other(static_cast<size_t>(n) * out.itemsize());
  copy_strided(broadcast_view(b, shape), other.data());
  const size_t item = out.itemsize();
  for (int64_t i = 0; i < n; ++i) {
    if (mask[static_cast<size_t>(i)] == std::byte{0}) {
      std::memcpy(dst + static_cast<size_t>(i) * item, other.data() + static_cast<size_t>(i) * item,
                  item);
    }
  }
}

}  // namespace

void register_generate_kernels(runtime::KernelRegistry& r) {
  r.add("fill", fill);
  r.add("fill_like", fill_like);
  r.add("range_1d", range_1d);
  r.add("one_hot", one_hot);
  r.add("band_part", band_part);
  r.add("select", select);
}

}  // namespace coreml::kernels
