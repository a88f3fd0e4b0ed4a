// matmul(x, y, transpose_x, transpose_y): NumPy matmul after the optional swaps of the last two
// axes; batch dimensions broadcast, rank-1 operands are promoted to matrices and the added
// dimension is dropped from the result.
#include <algorithm>

#include "kernels/common/compute.h"
#include "kernels/linalg/dot_block.h"
#include "kernels/linalg/linalg_ops.h"
#include "kernels/linalg/row_product.h"

namespace coreml::kernels::linalg {
namespace {

struct MatmulPlan {
  std::vector<int64_t> batch;        // broadcast batch shape
  std::vector<int64_t> x_batch_idx;  // per flat batch index: x's matrix index
  std::vector<int64_t> y_batch_idx;
  int64_t m = 0, k = 0, n = 0;
  std::vector<int64_t> out_shape;
};

// Flat matrix index of each broadcast batch position for an operand with batch dims `dims`.
std::vector<int64_t> batch_map(const std::vector<int64_t>& batch,
                               const std::vector<int64_t>& dims) {
  const int64_t total = element_count(batch);
  std::vector<int64_t> map(static_cast<size_t>(total));
  const size_t offset = batch.size() - dims.size();
  std::vector<int64_t> stride(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) stride[i - 1] = stride[i] * dims[i];
  for (int64_t flat = 0; flat < total; ++flat) {
    int64_t rest = flat, index = 0;
    for (size_t a = batch.size(); a-- > 0;) {
      const int64_t coord = rest % batch[a];
      rest /= batch[a];
      if (a >= offset && dims[a - offset] != 1) index += coord * stride[a - offset];
    }
    map[static_cast<size_t>(flat)] = index;
  }
  return map;
}

MatmulPlan plan(const runtime::OpContext& ctx, std::vector<int64_t> xs, std::vector<int64_t> ys,
                bool tx, bool ty) {
  if (xs.empty() || ys.empty()) ctx.fail("matmul operands must have rank >= 1");
  const bool x_vector = xs.size() == 1;
  const bool y_vector = ys.size() == 1;
  if (x_vector)
    xs.insert(xs.begin(), 1);
  else if (tx)
    std::swap(xs[xs.size() - 1], xs[xs.size() - 2]);
  if (y_vector)
    ys.push_back(1);
  else if (ty)
    std::swap(ys[ys.size() - 1], ys[ys.size() - 2]);
  MatmulPlan p;
  p.m = xs[xs.size() - 2];
  p.k = xs.back();
  p.n = ys.back();
  if (ys[ys.size() - 2] != p.k) {
    ctx.fail("inner dimensions differ: x has ", p.k, ", y has ", ys[ys.size() - 2]);
  }
  const std::vector<int64_t> xb(xs.begin(), xs.end() - 2), yb(ys.begin(), ys.end() - 2);
  const size_t rank = std::max(xb.size(), yb.size());
  p.batch.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t a = i + xb.size() >= rank ? xb[i + xb.size() - rank] : 1;
    const int64_t b = i + yb.size() >= rank ? yb[i + yb.size() - rank] : 1;
    if (a != b && a != 1 && b != 1)
      ctx.fail("batch dimensions ", a, " and ", b, " do not broadcast");
    p.batch[i] = a == 1 ? b : a;
  }
  p.x_batch_idx = batch_map(p.batch, xb);
  p.y_batch_idx = batch_map(p.batch, yb);
  p.out_shape = p.batch;
  if (!x_vector) p.out_shape.push_back(p.m);
  if (!y_vector) p.out_shape.push_back(p.n);
  return p;
}

// Copies matrix `src` ([rows, cols] row-major) into `dst` as [cols, rows].
template <typename T>
void transpose_into(const T* src, int64_t rows, int64_t cols, T* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  }
}

// Packs every matrix of `values` ([count, a, b] row-major) so rows run along the inner size:
// `inner_last` says whether b already is the inner size.
template <typename T>
std::vector<T> pack_rows(const std::vector<T>& values, int64_t count, int64_t a, int64_t b,
                         bool inner_last) {
  if (inner_last) return values;
  std::vector<T> packed(values.size());
  for (int64_t i = 0; i < count; ++i)
    transpose_into(values.data() + i * a * b, a, b, packed.data() + i * a * b);
  return packed;
}

void integer_matmul(runtime::OpContext& ctx, const MatmulPlan& p, bool tx, bool ty, bool x_vector,
                    bool y_vector) {
  const Tensor& x = ctx.in("x");
  const Tensor& y = ctx.in("y");
  // x rows along k: x stored [m, k] unless transposed; y rows along k: y stored [k, n] unless
  // transposed (a rank-1 operand is its own row).
  const auto xr = pack_rows(load_i64(x), x.numel() / std::max<int64_t>(p.m * p.k, 1), p.k, p.m,
                            x_vector || !tx);
  const auto yr =
      pack_rows(load_i64(y), y.numel() / std::max<int64_t>(p.k * p.n, 1), p.k, p.n, y_vector || ty);
  const int64_t batches = element_count(p.batch);
  std::vector<int64_t> out(static_cast<size_t>(batches * p.m * p.n));
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t* xm = xr.data() + p.x_batch_idx[b] * p.m * p.k;
    const int64_t* ym = yr.data() + p.y_batch_idx[b] * p.n * p.k;
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        int64_t sum = 0;
        for (int64_t t = 0; t < p.k; ++t) sum += xm[i * p.k + t] * ym[j * p.k + t];
        out[(b * p.m + i) * p.n + j] = sum;
      }
    }
  }
  emit(ctx, 0, p.out_shape, out);
}

}  // namespace

void matmul(runtime::OpContext& ctx) {
  const runtime::RtValue& xval = ctx.value("x");
  const runtime::RtValue& yval = ctx.value("y");
  const bool tx = ctx.get_bool("transpose_x", false);
  const bool ty = ctx.get_bool("transpose_y", false);
  const bool x_vector = xval.shape().size() == 1;
  const bool y_vector = yval.shape().size() == 1;
  const MatmulPlan p = plan(ctx, xval.shape(), yval.shape(), tx, ty);
  if (is_integer_dtype(xval.dtype())) {
    integer_matmul(ctx, p, tx, ty, x_vector, y_vector);
    return;
  }
  const int64_t batches = element_count(p.batch);
  std::vector<float> out(static_cast<size_t>(batches * p.m * p.n), 0.0f);
  const Tensor& x = ctx.in("x");
  const int64_t x_mats = x.numel() / std::max<int64_t>(p.m * p.k, 1);
  const auto xr = pack_rows(load_f32(x), x_mats, p.k, p.m, x_vector || !tx);

  // A constant y that already holds its rows along k ([n, k], the LLM "x · Wᵀ" form) is read
  // through RowSource, so a compressed weight is decoded block by block, never expanded.
  if (yval.constant && yval.shape().size() == 2 && ty) {
    const RowSource w(yval);
    const int64_t x_rows = batches * p.m;  // y has no batch: every x row meets every y row
    if (element_count(p.batch) == x_mats) {
      multiply_rows(ctx.pool(), w, 0, p.n, xr.data(), x_rows, nullptr, out.data(), 1, p.n);
      emit(ctx, 0, p.out_shape, out);
      return;
    }
  }

  const Tensor& y = ctx.in("y");
  const int64_t y_mats = y.numel() / std::max<int64_t>(p.k * p.n, 1);
  if (!(y_vector || ty)) {
    // y stored [k, n] (attention's probabilities · V): accumulate rows of y scaled by x instead
    // of transposing y, so y streams once, contiguously.
    const auto yk = load_f32(y);
    const int64_t row_block = std::max<int64_t>(1, std::min<int64_t>(16, p.m));
    const int64_t blocks_per_batch = (p.m + row_block - 1) / row_block;
    ctx.pool().parallel_for(batches * blocks_per_batch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t b = item / blocks_per_batch;
        const int64_t i0 = (item % blocks_per_batch) * row_block;
        const int64_t rows = std::min(row_block, p.m - i0);
        const float* ym = yk.data() + p.y_batch_idx[b] * p.k * p.n;
        for (int64_t i = i0; i < i0 + rows; ++i) {
          const float* xrow = xr.data() + (p.x_batch_idx[b] * p.m + i) * p.k;
          float* orow = out.data() + (b * p.m + i) * p.n;
          for (int64_t t = 0; t < p.k; ++t) {
            const float a = xrow[t];
            const float* yrow = ym + t * p.n;
            for (int64_t j = 0; j < p.n; ++j) orow[j] += a * yrow[j];
          }
        }
      }
    });
    emit(ctx, 0, p.out_shape, out);
    return;
  }
  const auto yr = pack_rows(load_f32(y), y_mats, p.k, p.n, y_vector || ty);
  // Work items: (batch, block of x rows); each computes its rows against all of y's rows.
  const int64_t row_block = std::max<int64_t>(4, std::min<int64_t>(64, p.m));
  const int64_t blocks_per_batch = (p.m + row_block - 1) / row_block;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row_block * p.n * p.k));
  ctx.pool().parallel_for(batches * blocks_per_batch, grain, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / blocks_per_batch;
      const int64_t i0 = (item % blocks_per_batch) * row_block;
      const int64_t rows = std::min(row_block, p.m - i0);
      const float* xm = xr.data() + (p.x_batch_idx[b] * p.m + i0) * p.k;
      const float* ym = yr.data() + p.y_batch_idx[b] * p.n * p.k;
      dot_block(xm, rows, ym, p.n, p.k, out.data() + (b * p.m + i0) * p.n, p.n, 1);
    }
  });
  emit(ctx, 0, p.out_shape, out);
}

}  // namespace coreml::kernels::linalg
