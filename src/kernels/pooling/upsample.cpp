// upsample_nearest_neighbor and upsample_bilinear over the last two axes of x [*D, H, W].
// Output size is floor(H * scale_factor_height) x floor(W * scale_factor_width).
#include <algorithm>
#include <cmath>

#include "kernels/common/compute.h"
#include "kernels/pooling/pooling_kernels.h"
#include "kernels/reduction/axis_layout.h"
#include "runtime/limits.h"

namespace coreml::kernels {
namespace {

struct Resize {
  int64_t planes = 1, in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  double scale_h = 1, scale_w = 1;
  std::vector<int64_t> out_shape;
};

Resize resize_geometry(const runtime::OpContext& ctx, const Tensor& x) {
  if (x.rank() < 3) ctx.fail("x must have rank 3 or more, got ", x.rank());
  Resize r;
  r.scale_h = ctx.get_float("scale_factor_height", 1.0);
  r.scale_w = ctx.get_float("scale_factor_width", 1.0);
  if (!(r.scale_h > 0) || !(r.scale_w > 0)) ctx.fail("scale factors must be positive");
  r.out_shape = x.shape();
  r.in_h = x.shape().end()[-2];
  r.in_w = x.shape().back();
  // Checked as doubles: a huge scale factor must not reach the integer conversion.
  const double out_h = std::floor(static_cast<double>(r.in_h) * r.scale_h);
  const double out_w = std::floor(static_cast<double>(r.in_w) * r.scale_w);
  if (!(out_h <= double(int64_t{1} << 31)) || !(out_w <= double(int64_t{1} << 31))) {
    ctx.fail("output of ", out_h, " x ", out_w, " is too large");
  }
  r.out_h = static_cast<int64_t>(out_h);
  r.out_w = static_cast<int64_t>(out_w);
  r.out_shape.end()[-2] = r.out_h;
  r.out_shape.back() = r.out_w;
  // The kernels compute into an fp32 buffer of the output's size.
  runtime::check_tensor_budget(r.out_shape, DType::kFloat32, ctx.where());
  r.planes = element_count(x.shape()) / std::max<int64_t>(1, r.in_h * r.in_w);
  return r;
}

// Nearest source index: floor(i * in / out), clamped to the input. Core ML maps output pixels
// back by the actual size ratio, not by 1 / scale: with a fractional scale the two differ
// (width 3, scale 1.12 -> output width 3, an identity, where 1 / scale would skip pixel 2).
std::vector<int64_t> nearest_indices(int64_t out, int64_t in) {
  std::vector<int64_t> idx(static_cast<size_t>(out));
  for (int64_t i = 0; i < out; ++i) {
    // Exact integer arithmetic: no rounding surprises at the pixel boundaries.
    idx[static_cast<size_t>(i)] = std::min<int64_t>(i * in / std::max<int64_t>(out, 1), in - 1);
  }
  return idx;
}

void upsample_nearest(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const Resize r = resize_geometry(ctx, x);
  const auto rows = nearest_indices(r.out_h, r.in_h);
  const auto cols = nearest_indices(r.out_w, r.in_w);
  const F32Elements data(x);
  std::vector<float> result(static_cast<size_t>(r.planes * r.out_h * r.out_w));
  ctx.pool().parallel_for(r.planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* in = data.data() + p * r.in_h * r.in_w;
      float* out = result.data() + p * r.out_h * r.out_w;
      for (int64_t i = 0; i < r.out_h; ++i) {
        const float* src = in + rows[i] * r.in_w;
        for (int64_t j = 0; j < r.out_w; ++j) out[i * r.out_w + j] = src[cols[j]];
      }
    }
  });
  emit(ctx, 0, r.out_shape, result);
}

// One output coordinate's two source samples and the weight of the second.
struct Tap {
  int64_t lo, hi;
  float frac;
};

// align_corners: src = i * (in-1)/(out-1). Else half_pixel_centers: src = (i+0.5)*in/out - 0.5;
// else src = i * in/out. Sources clamp to [0, in-1].
std::vector<Tap> bilinear_taps(int64_t out, int64_t in, bool align_corners, bool half_pixel) {
  std::vector<Tap> taps(static_cast<size_t>(out));
  for (int64_t i = 0; i < out; ++i) {
    double src;
    if (align_corners) {
      src = out > 1 ? static_cast<double>(i) * static_cast<double>(in - 1) /
                          static_cast<double>(out - 1)
                    : 0.0;
    } else if (half_pixel) {
      src =
          (static_cast<double>(i) + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
    } else {
      src = static_cast<double>(i) * static_cast<double>(in) / static_cast<double>(out);
    }
    src = std::clamp(src, 0.0, static_cast<double>(in - 1));
    const int64_t lo = static_cast<int64_t>(std::floor(src));
    taps[i] = {lo, std::min(lo + 1, in - 1), static_cast<float>(src - static_cast<double>(lo))};
  }
  return taps;
}

void upsample_bilinear(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const Resize r = resize_geometry(ctx, x);
  const bool align_corners = ctx.get_bool("align_corners", true);
  const bool half_pixel = ctx.get_bool("half_pixel_centers", !align_corners);
  const auto rows = bilinear_taps(r.out_h, r.in_h, align_corners, half_pixel);
  const auto cols = bilinear_taps(r.out_w, r.in_w, align_corners, half_pixel);
  const F32Elements data(x);
  std::vector<float> result(static_cast<size_t>(r.planes * r.out_h * r.out_w));
  ctx.pool().parallel_for(r.planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* in = data.data() + p * r.in_h * r.in_w;
      float* out = result.data() + p * r.out_h * r.out_w;
      for (int64_t i = 0; i < r.out_h; ++i) {
        const float* top = in + rows[i].lo * r.in_w;
        const float* bottom = in + rows[i].hi * r.in_w;
        const float fy = rows[i].frac;
        for (int64_t j = 0; j < r.out_w; ++j) {
          const Tap& c = cols[j];
          const float t = top[c.lo] + (top[c.hi] - top[c.lo]) * c.frac;
          const float b = bottom[c.lo] + (bottom[c.hi] - bottom[c.lo]) * c.frac;
          out[i * r.out_w + j] = t + (b - t) * fy;
        }
      }
    }
  });
  emit(ctx, 0, r.out_shape, result);
}

}  // namespace

void register_upsample_kernels(runtime::KernelRegistry& r) {
  r.add("upsample_nearest_neighbor", upsample_nearest);
  r.add("upsample_bilinear", upsample_bilinear);
}

}  // namespace coreml::kernels
