// Normalizations: layer_norm, batch_norm, instance_norm, l2_norm, local_response_norm.
// Statistics accumulate in fp64 over fp32 rows; variances are biased (divide by N) with
// epsilon inside the square root, as coremltools defines them.
#include <cmath>

#include "kernels/reduction/layer_norm_row.h"
#include "kernels/reduction/reduction_kernels.h"
#include "kernels/reduction/row_io.h"

namespace coreml::kernels {
namespace {

// Optional per-row-element parameter (gamma, beta, per-channel stats) as fp32: `count`
// values, or `fill` repeated when the op has no such input.
std::vector<float> param_or(const runtime::OpContext& ctx, std::string_view name, int64_t count,
                            float fill) {
  if (!ctx.has(name)) return std::vector<float>(static_cast<size_t>(count), fill);
  std::vector<float> v = load_f32(ctx.in(name));
  if (static_cast<int64_t>(v.size()) != count) {
    ctx.fail("'", name, "' has ", v.size(), " elements, expected ", count);
  }
  return v;
}

void layer_norm(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const auto axes = sorted_axes(ctx, ctx.get_ints_if("axes"), x.rank());
  const double epsilon = ctx.get_float("epsilon", 1e-5);
  const AxisBlock block = axis_block(x, axes);
  const AxisLayout& l = block.layout;
  const std::vector<float> gamma = param_or(ctx, "gamma", l.n, 1.0f);
  const std::vector<float> beta = param_or(ctx, "beta", l.n, 0.0f);
  auto normalize = [&](int64_t, const float* in, float* out) {
    const RowMoments m = row_moments(in, l.n, epsilon);
    for (int64_t j = 0; j < l.n; ++j) {
      out[j] = static_cast<float>((in[j] - m.mean) * m.inv_std) * gamma[j] + beta[j];
    }
  };
  const F32Elements data(block.x);
  if (block.perm.empty()) {
    F32Output out(ctx, 0, x.shape());
    transform_rows(ctx.pool(), data.data(), out.data(), l, normalize);
    out.finish();
    return;
  }
  // Non-adjacent axes: normalize in the permuted order, then permute the result back.
  std::vector<float> permuted(static_cast<size_t>(x.numel()));
  transform_rows(ctx.pool(), data.data(), permuted.data(), l, normalize);
  std::vector<int64_t> permuted_shape, inverse(block.perm.size());
  for (size_t i = 0; i < block.perm.size(); ++i) {
    permuted_shape.push_back(x.shape()[block.perm[i]]);
    inverse[block.perm[i]] = static_cast<int64_t>(i);
  }
  const Tensor result = Tensor::from_vector(permuted, permuted_shape).permute(inverse);
  emit(ctx, 0, x.shape(), load_f32(result));
}

// [N, C, *spatial] with C at axis 1: the spatial element count per (n, c) plane.
int64_t plane_size(const runtime::OpContext& ctx, const Tensor& x, int64_t min_rank) {
  if (x.rank() < min_rank) ctx.fail("x must have rank ", min_rank, " or more, got ", x.rank());
  int64_t s = 1;
  for (int64_t a = 2; a < x.rank(); ++a) s *= x.shape()[a];
  return s;
}

void batch_norm(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const int64_t spatial = plane_size(ctx, x, 2);
  const int64_t channels = x.shape()[1];
  const double epsilon = ctx.get_float("epsilon", 1e-5);
  if (!ctx.has("mean") || !ctx.has("variance")) ctx.fail("'mean' and 'variance' are required");
  const std::vector<float> mean = param_or(ctx, "mean", channels, 0.0f);
  const std::vector<float> variance = param_or(ctx, "variance", channels, 1.0f);
  const std::vector<float> gamma = param_or(ctx, "gamma", channels, 1.0f);
  const std::vector<float> beta = param_or(ctx, "beta", channels, 0.0f);
  std::vector<float> scale(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    scale[c] = static_cast<float>(gamma[c] / std::sqrt(static_cast<double>(variance[c]) + epsilon));
  }
  const F32Elements data(x);
  F32Output out(ctx, 0, x.shape());
  const AxisLayout planes{x.shape()[0] * channels, spatial, 1};
  transform_rows(ctx.pool(), data.data(), out.data(), planes,
                 [&](int64_t plane, const float* in, float* o) {
                   const int64_t c = plane % channels;
                   for (int64_t j = 0; j < spatial; ++j)
                     o[j] = (in[j] - mean[c]) * scale[c] + beta[c];
                 });
  out.finish();
}

void instance_norm(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const int64_t spatial = plane_size(ctx, x, 3);
  const int64_t channels = x.shape()[1];
  const double epsilon = ctx.get_float("epsilon", 1e-5);
  const std::vector<float> gamma = param_or(ctx, "gamma", channels, 1.0f);
  const std::vector<float> beta = param_or(ctx, "beta", channels, 0.0f);
  const F32Elements data(x);
  F32Output out(ctx, 0, x.shape());
  const AxisLayout planes{x.shape()[0] * channels, spatial, 1};
  transform_rows(ctx.pool(), data.data(), out.data(), planes,
                 [&](int64_t plane, const float* in, float* o) {
                   const int64_t c = plane % channels;
                   const RowMoments m = row_moments(in, spatial, epsilon);
                   for (int64_t j = 0; j < spatial; ++j) {
                     o[j] = static_cast<float>((in[j] - m.mean) * m.inv_std) * gamma[c] + beta[c];
                   }
                 });
  out.finish();
}

// l2_norm: x / sqrt(sum(x^2) + epsilon) over the last three axes (the leading ones are batch).
void l2_norm(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() < 3) ctx.fail("x must have rank 3 or more, got ", x.rank());
  const double epsilon = ctx.get_float("epsilon", 1e-6);
  AxisLayout rows;
  for (int64_t a = 0; a < x.rank(); ++a) (a < x.rank() - 3 ? rows.outer : rows.n) *= x.shape()[a];
  const F32Elements data(x);
  F32Output out(ctx, 0, x.shape());
  transform_rows(ctx.pool(), data.data(), out.data(), rows,
                 [&](int64_t, const float* in, float* o) {
                   double sq = 0;
                   for (int64_t j = 0; j < rows.n; ++j) sq += static_cast<double>(in[j]) * in[j];
                   const float inv = static_cast<float>(1.0 / std::sqrt(sq + epsilon));
                   for (int64_t j = 0; j < rows.n; ++j) o[j] = in[j] * inv;
                 });
  out.finish();
}

// local_response_norm: x / (k + alpha/size * sum of x^2 over neighbouring channels)^beta.
// As Core ML defines it (and coremltools' own test data for the op shows): the channel axis is
// axis -3 (leading axes are batch), and the window for channel c is
// [c - (size-1)/2, c + size/2] clipped to the channels — centred for odd sizes; for even sizes
// it reaches one channel further forward (PyTorch's reaches one further back).
void local_response_norm(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() < 3) ctx.fail("x must have rank 3 or more, got ", x.rank());
  const auto rank = static_cast<size_t>(x.rank());
  const int64_t channels = x.shape()[rank - 3];
  const int64_t spatial = x.shape()[rank - 2] * x.shape()[rank - 1];
  int64_t batch = 1;
  for (size_t a = 0; a + 3 < rank; ++a) batch *= x.shape()[a];
  const int64_t size = ctx.get_int("size");
  if (size < 1) ctx.fail("size must be positive, got ", size);
  const double alpha = ctx.get_float("alpha", 1e-4);
  const double beta = ctx.get_float("beta", 0.75);
  const double k = ctx.get_float("k", 1.0);
  const F32Elements data(x);
  F32Output out(ctx, 0, x.shape());
  const float* in = data.data();
  float* o = out.data();
  // One task per (batch, channel) plane; each reads its neighbours' planes.
  ctx.pool().parallel_for(batch * channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / channels, c = plane % channels;
      const int64_t lo = std::max<int64_t>(0, c - (size - 1) / 2);
      const int64_t hi = std::min<int64_t>(channels - 1, c + size / 2);
      for (int64_t s = 0; s < spatial; ++s) {
        double sq = 0;
        for (int64_t cc = lo; cc <= hi; ++cc) {
          const double v = in[(n * channels + cc) * spatial + s];
          sq += v * v;
        }
        const int64_t at = plane * spatial + s;
        o[at] =
            static_cast<float>(in[at] / std::pow(k + alpha / static_cast<double>(size) * sq, beta));
      }
    }
  });
  out.finish();
}

}  // namespace

void register_norm_kernels(runtime::KernelRegistry& r) {
  r.add("layer_norm", layer_norm);
  r.add("batch_norm", batch_norm);
  r.add("instance_norm", instance_norm);
  r.add("l2_norm", l2_norm);
  r.add("local_response_norm", local_response_norm);
}

}  // namespace coreml::kernels
