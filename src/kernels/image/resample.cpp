// resample (sample x at given coordinates) and affine (sample x at affinely transformed output
// coordinates): PyTorch's grid_sample semantics, which coremltools maps onto these ops, with
// Core ML's padding modes: constant (padding_value), border (clamp), reflection (mirrored at
// the edge pixels' centres: |1 2 3| -> 2 3 2 1 2 3 2 1) and symmetric (mirrored at the image
// edges, repeating the edge pixels: |1 2 3| -> 3 2 1 1 2 3 3 2 1).
#include <cmath>
#include <string>

#include "kernels/common/compute.h"
#include "kernels/image/image_kernels.h"
#include "kernels/output_limits.h"

namespace coreml::kernels {
namespace {

enum class Padding { kConstant, kBorder, kReflection, kSymmetric };
enum class Coordinates { kUnnormalized, kMinusOneToOne, kZeroToOne };

struct Sampler {
  bool nearest = false;
  Padding padding = Padding::kConstant;
  Coordinates coordinates = Coordinates::kMinusOneToOne;
  bool align_corners = false;
  float pad_value = 0;
};

Sampler sampler_of(const runtime::OpContext& ctx) {
  Sampler s;
  const std::string sampling = ctx.get_string("sampling_mode");
  if (sampling == "nearest") {
    s.nearest = true;
  } else if (sampling != "bilinear") {
    ctx.fail("unknown sampling_mode '", sampling, "' (expected bilinear or nearest)");
  }
  const std::string padding = ctx.get_string("padding_mode");
  if (padding == "constant") {
    s.padding = Padding::kConstant;
  } else if (padding == "border") {
    s.padding = Padding::kBorder;
  } else if (padding == "reflection") {
    s.padding = Padding::kReflection;
  } else if (padding == "symmetric") {
    s.padding = Padding::kSymmetric;
  } else {
    ctx.fail("unknown padding_mode '", padding,
             "' (expected constant, border, reflection or symmetric)");
  }
  const std::string coords = ctx.get_string("coordinates_mode");
  if (coords == "unnormalized") {
    s.coordinates = Coordinates::kUnnormalized;
  } else if (coords == "normalized_minus_one_to_one") {
    s.coordinates = Coordinates::kMinusOneToOne;
  } else if (coords == "normalized_zero_to_one") {
    s.coordinates = Coordinates::kZeroToOne;
  } else {
    ctx.fail("unknown coordinates_mode '", coords,
             "' (expected unnormalized, normalized_minus_one_to_one or normalized_zero_to_one)");
  }
  s.align_corners = ctx.get_bool("align_corners", false);
  s.pad_value = static_cast<float>(ctx.get_float("padding_value", 0.0));
  return s;
}

// A coordinate in `mode` -> input pixel coordinate along an axis of `size` pixels.
double to_pixel(const Sampler& s, double c, int64_t size) {
  const auto n = static_cast<double>(size);
  switch (s.coordinates) {
    case Coordinates::kUnnormalized: return c;
    case Coordinates::kMinusOneToOne:
      return s.align_corners ? (c + 1) / 2 * (n - 1) : ((c + 1) * n - 1) / 2;
    case Coordinates::kZeroToOne: return s.align_corners ? c * (n - 1) : c * n - 0.5;
  }
  return c;
}

// Mirrors x into [low, high] (repeatedly), as a continuous coordinate.
double reflect(double x, double low, double high) {
  if (high <= low) return low;
  const double span = high - low;
  const double d = std::abs(x - low);
  const double flips = std::floor(d / span);
  const double extra = d - flips * span;
  return std::fmod(flips, 2.0) == 0 ? low + extra : high - extra;
}

// Applies border/reflection/symmetric padding to a pixel coordinate (constant: unchanged).
double pad_coordinate(const Sampler& s, double g, int64_t size) {
  const double last = static_cast<double>(size - 1);
  switch (s.padding) {
    case Padding::kConstant: return g;
    case Padding::kBorder: return std::clamp(g, 0.0, last);
    case Padding::kReflection: return std::clamp(reflect(g, 0.0, last), 0.0, last);
    case Padding::kSymmetric:
      return std::clamp(reflect(g, -0.5, static_cast<double>(size) - 0.5), 0.0, last);
  }
  return g;
}

// The value of one image plane [h, w] at pixel coordinates (gx, gy).
float sample(const Sampler& s, const float* plane, int64_t h, int64_t w, double gx, double gy) {
  if (std::isnan(gx) || std::isnan(gy)) return s.pad_value;
  gx = pad_coordinate(s, gx, w);
  gy = pad_coordinate(s, gy, h);
  const auto at = [&](int64_t y, int64_t x) {
    return (y >= 0 && y < h && x >= 0 && x < w) ? plane[y * w + x] : s.pad_value;
  };
  const double limit = 1e9;  // far outside any image: every tap is padding
  if (std::abs(gx) > limit || std::abs(gy) > limit) return s.pad_value;
  if (s.nearest) {
    return at(static_cast<int64_t>(std::nearbyint(gy)), static_cast<int64_t>(std::nearbyint(gx)));
  }
  const auto x0 = static_cast<int64_t>(std::floor(gx));
  const auto y0 = static_cast<int64_t>(std::floor(gy));
  const auto fx = static_cast<float>(gx - static_cast<double>(x0));
  const auto fy = static_cast<float>(gy - static_cast<double>(y0));
  const float top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx;
  const float bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx;
  return top * (1 - fy) + bottom * fy;
}

const Tensor& image_input(const runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() != 4) ctx.fail("x must have rank 4 [B, C, H, W], got rank ", x.rank());
  return x;
}

// resample(x [B, C, H, W], coordinates [B, H2, W2, 2] as (x, y)) -> [B, C, H2, W2].
void resample(runtime::OpContext& ctx) {
  const Tensor& x = image_input(ctx);
  const Tensor& coords = ctx.in("coordinates");
  const Sampler s = sampler_of(ctx);
  const int64_t b = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  if (coords.rank() != 4 || coords.shape()[0] != b || coords.shape()[3] != 2) {
    ctx.fail("coordinates must have shape [", b, ", H, W, 2], got ", coords.to_string(0));
  }
  const int64_t oh = coords.shape()[1], ow = coords.shape()[2];
  const std::vector<int64_t> out_shape = {b, c, oh, ow};
  if (element_count(out_shape) == 0) {
    ctx.allocate_output(0, out_shape);
    return;
  }
  if (h == 0 || w == 0) ctx.fail("cannot sample an empty image");
  const auto data = load_f32(x);
  const auto grid = load_f64(coords);
  std::vector<float> result(static_cast<size_t>(element_count(out_shape)));
  for (int64_t n = 0; n < b; ++n) {
    for (int64_t p = 0; p < oh * ow; ++p) {
      const double gx = to_pixel(s, grid[static_cast<size_t>((n * oh * ow + p) * 2)], w);
      const double gy = to_pixel(s, grid[static_cast<size_t>((n * oh * ow + p) * 2 + 1)], h);
      for (int64_t ch = 0; ch < c; ++ch) {
        result[static_cast<size_t>((n * c + ch) * oh * ow + p)] =
            sample(s, data.data() + (n * c + ch) * h * w, h, w, gx, gy);
      }
    }
  }
  emit(ctx, 0, out_shape, result);
}

// Normalized output coordinate i of n in [-1, 1] (PyTorch's affine_grid base grid).
double base_coordinate(int64_t i, int64_t n, bool align_corners) {
  const auto x = static_cast<double>(i);
  const auto size = static_cast<double>(n);
  if (align_corners) return n > 1 ? -1 + 2 * x / (size - 1) : -1.0;
  return (2 * x + 1) / size - 1;
}

// affine(x [B, C, H, W], transform_matrix [B or 1, 6]) -> [B, C, output_height, output_width]:
// output (x, y) samples the input at (a0 x + a1 y + a2, b0 x + b1 y + b2).
void affine(runtime::OpContext& ctx) {
  const Tensor& x = image_input(ctx);
  const Tensor& m = ctx.in("transform_matrix");
  const Sampler s = sampler_of(ctx);
  const int64_t b = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  if (m.rank() != 2 || m.shape()[1] != 6 || (m.shape()[0] != b && m.shape()[0] != 1)) {
    ctx.fail("transform_matrix must have shape [", b, " or 1, 6], got ", m.to_string(0));
  }
  const int64_t oh = ctx.get_int("output_height");
  const int64_t ow = ctx.get_int("output_width");
  if (oh < 0 || ow < 0 || oh > (1 << 24) || ow > (1 << 24)) ctx.fail("output size is out of range");
  const std::vector<int64_t> out_shape = {b, c, oh, ow};
  if (checked_output_elements(ctx, out_shape) == 0) {
    ctx.allocate_output(0, out_shape);
    return;
  }
  if (h == 0 || w == 0) ctx.fail("cannot sample an empty image");
  const auto data = load_f32(x);
  const auto t = load_f64(m);
  // The output grid is normalized to [-1, 1] whatever coordinates_mode says about the input.
  std::vector<float> result(static_cast<size_t>(element_count(out_shape)));
  for (int64_t n = 0; n < b; ++n) {
    const double* a = &t[static_cast<size_t>((m.shape()[0] == 1 ? 0 : n) * 6)];
    for (int64_t i = 0; i < oh; ++i) {
      const double yn = base_coordinate(i, oh, s.align_corners);
      for (int64_t j = 0; j < ow; ++j) {
        const double xn = base_coordinate(j, ow, s.align_corners);
        const double gx = to_pixel(s, a[0] * xn + a[1] * yn + a[2], w);
        const double gy = to_pixel(s, a[3] * xn + a[4] * yn + a[5], h);
        for (int64_t ch = 0; ch < c; ++ch) {
          result[static_cast<size_t>(((n * c + ch) * oh + i) * ow + j)] =
              sample(s, data.data() + (n * c + ch) * h * w, h, w, gx, gy);
        }
      }
    }
  }
  emit(ctx, 0, out_shape, result);
}

}  // namespace

void register_resample_kernels(runtime::KernelRegistry& r) {
  r.add("resample", resample);
  r.add("affine", affine);
}

}  // namespace coreml::kernels
