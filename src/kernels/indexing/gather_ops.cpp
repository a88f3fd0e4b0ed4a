// gather, gather_along_axis, gather_nd. Element moves are byte copies (exact for every
// dtype); a compressed constant table (e.g. a LUT-palettized embedding) is decoded one row
// per index through WeightRows instead of being expanded.
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/common/weight_rows.h"
#include "kernels/shape/data_movement.h"
#include "runtime/kernel_registry.h"
#include "tensor/convert.h"

namespace coreml::kernels {
namespace {

int64_t product(const std::vector<int64_t>& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= shape[i];
  return n;
}

// Wraps negative indices and rejects out-of-range ones (always: reading outside x is never
// allowed, whatever validate_indices says).
std::vector<int64_t> wrapped_indices(const runtime::OpContext& ctx, const Tensor& t, int64_t size) {
  std::vector<int64_t> indices = read_indices(t);
  for (int64_t& i : indices) i = wrap_index(ctx, i, size, "index");
  return indices;
}

// gather rows of a compressed [rows, ...] table: out[i] = decode(table[indices[i]]).
void gather_compressed_rows(runtime::OpContext& ctx, const runtime::RtValue& table,
                            const std::vector<int64_t>& indices, Tensor& out) {
  const WeightRows rows(table);
  const int64_t row_size = rows.row_size();
  const DType dtype = out.dtype();
  auto* dst = static_cast<std::byte*>(out.data());
  const size_t row_bytes = static_cast<size_t>(row_size) * out.itemsize();
  ctx.pool().parallel_for(static_cast<int64_t>(indices.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(row_size));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t r = indices[static_cast<size_t>(i)];
      rows.decode(r, r + 1, scratch.data());
      tensor_detail::convert_elements(scratch.data(), DType::kFloat32,
                                      dst + static_cast<size_t>(i) * row_bytes, dtype,
                                      static_cast<size_t>(row_size));
    }
  });
}

// gather(x, indices, axis=0, batch_dims=0): out[b, o, i, r] = x[b, o, indices[b, i], r] with
// shape x.shape[:axis] + indices.shape[batch_dims:] + x.shape[axis+1:].
void gather(runtime::OpContext& ctx) {
  const runtime::RtValue& xv = ctx.value("x");
  const std::vector<int64_t> x_shape = xv.shape();
  const Tensor& index_tensor = ctx.in("indices");
  const auto& idx_shape = index_tensor.shape();
  const auto rank = static_cast<int64_t>(x_shape.size());
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", 0), rank);
  const int64_t batch_dims = ctx.get_int("batch_dims", 0);
  if (batch_dims < 0 || batch_dims > axis || batch_dims > index_tensor.rank()) {
    ctx.fail("batch_dims ", batch_dims, " must be in [0, min(axis, rank(indices))]");
  }
  const auto bd = static_cast<size_t>(batch_dims);
  const auto a = static_cast<size_t>(axis);
  for (size_t d = 0; d < bd; ++d) {
    if (x_shape[d] != idx_shape[d]) ctx.fail("x and indices differ in batch dimension ", d);
  }
  std::vector<int64_t> out_shape(x_shape.begin(), x_shape.begin() + axis);
  out_shape.insert(out_shape.end(), idx_shape.begin() + batch_dims, idx_shape.end());
  out_shape.insert(out_shape.end(), x_shape.begin() + axis + 1, x_shape.end());
  check_rank(ctx, out_shape.size());
  const std::vector<int64_t> indices = wrapped_indices(ctx, index_tensor, x_shape[a]);

  if (xv.compressed && axis == 0) {
    Tensor& out = ctx.allocate_output(0, out_shape);
    if (out.numel() > 0) gather_compressed_rows(ctx, xv, indices, out);
    return;
  }
  const Tensor x = xv.dense().contiguous();
  Tensor& out = allocate_like(ctx, 0, out_shape, x.dtype());
  if (out.numel() == 0) return;
  const int64_t batches = product(x_shape, 0, bd);
  const int64_t outer = product(x_shape, bd, a);
  const int64_t n = x_shape[a];
  const int64_t per_batch = product(idx_shape, bd, idx_shape.size());
  const size_t row = static_cast<size_t>(product(x_shape, a + 1, x_shape.size())) * x.itemsize();
  const auto* src = static_cast<const std::byte*>(x.data());
  auto* dst = static_cast<std::byte*>(out.data());
  for (int64_t b = 0; b < batches; ++b) {
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t base = (b * outer + o) * n;
      for (int64_t i = 0; i < per_batch; ++i) {
        const int64_t r = base + indices[static_cast<size_t>(b * per_batch + i)];
        std::memcpy(dst, src + static_cast<size_t>(r) * row, row);
        dst += row;
      }
    }
  }
}

// gather_along_axis(x, indices, axis): out[o, k, r] = x[o, indices[o, k, r], r].
void gather_along_axis(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const Tensor& index_tensor = ctx.in("indices");
  const auto& idx_shape = index_tensor.shape();
  if (index_tensor.rank() != x.rank()) ctx.fail("indices must have the rank of x");
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", 0), x.rank());
  const auto a = static_cast<size_t>(axis);
  for (size_t d = 0; d < idx_shape.size(); ++d) {
    if (d != a && idx_shape[d] != x.shape()[d]) ctx.fail("indices differ from x in dimension ", d);
  }
  const std::vector<int64_t> indices = wrapped_indices(ctx, index_tensor, x.shape()[a]);
  Tensor& out = allocate_like(ctx, 0, idx_shape, x.dtype());
  if (out.numel() == 0) return;
  const int64_t outer = product(idx_shape, 0, a);
  const int64_t k = idx_shape[a];
  const int64_t inner = product(idx_shape, a + 1, idx_shape.size());
  const int64_t n = x.shape()[a];
  const size_t item = x.itemsize();
  const auto* src = static_cast<const std::byte*>(x.data());
  auto* dst = static_cast<std::byte*>(out.data());
  size_t e = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < k; ++j) {
      for (int64_t r = 0; r < inner; ++r, ++e) {
        const int64_t at = (o * n + indices[e]) * inner + r;
        std::memcpy(dst + e * item, src + static_cast<size_t>(at) * item, item);
      }
    }
  }
}

// gather_nd(x, indices, batch_dims=0): indices [..., K] address x.shape[bd:bd+K]; out shape
// indices.shape[:-1] + x.shape[bd+K:].
void gather_nd(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const Tensor& index_tensor = ctx.in("indices");
  const auto& idx_shape = index_tensor.shape();
  const auto& x_shape = x.shape();
  const int64_t batch_dims = ctx.get_int("batch_dims", 0);
  if (idx_shape.empty()) ctx.fail("indices must have rank >= 1");
  const int64_t k = idx_shape.back();
  if (batch_dims < 0 || batch_dims >= index_tensor.rank() || batch_dims + k > x.rank()) {
    ctx.fail("batch_dims ", batch_dims, " and index depth ", k, " do not fit x of rank ", x.rank());
  }
  const auto bd = static_cast<size_t>(batch_dims);
  for (size_t d = 0; d < bd; ++d) {
    if (x_shape[d] != idx_shape[d]) ctx.fail("x and indices differ in batch dimension ", d);
  }
  std::vector<int64_t> out_shape(idx_shape.begin(), idx_shape.end() - 1);
  out_shape.insert(out_shape.end(), x_shape.begin() + batch_dims + k, x_shape.end());
  const std::vector<int64_t> raw = read_indices(index_tensor);
  Tensor& out = allocate_like(ctx, 0, out_shape, x.dtype());
  if (out.numel() == 0) return;
  const int64_t batches = product(x_shape, 0, bd);
  const int64_t per_batch = product(idx_shape, bd, idx_shape.size() - 1);
  const int64_t batch_size = product(x_shape, bd, x_shape.size());
  const size_t row =
      static_cast<size_t>(product(x_shape, bd + static_cast<size_t>(k), x_shape.size())) *
      x.itemsize();
  const std::vector<int64_t> strides = contiguous_strides(x_shape);
  const auto* src = static_cast<const std::byte*>(x.data());
  auto* dst = static_cast<std::byte*>(out.data());
  size_t t = 0;
  for (int64_t b = 0; b < batches; ++b) {
    for (int64_t i = 0; i < per_batch; ++i) {
      int64_t offset = b * batch_size;
      for (int64_t j = 0; j < k; ++j, ++t) {
        const size_t d = bd + static_cast<size_t>(j);
        offset += wrap_index(ctx, raw[t], x_shape[d], "index") * strides[d];
      }
      std::memcpy(dst, src + static_cast<size_t>(offset) * x.itemsize(), row);
      dst += row;
    }
  }
}

}  // namespace

void register_gather_kernels(runtime::KernelRegistry& r) {
  r.add("gather", gather);
  r.add("gather_along_axis", gather_along_axis);
  r.add("gather_nd", gather_nd);
}

}  // namespace coreml::kernels
