// crop_resize: bilinear crops of boxes out of x [B, C, H, W].
//   iOS15/16: roi [N, 1, 4|5, 1, 1] (5: the first value is the batch index) -> [N, B|1, C, h, w]
//   iOS17:    boxes [N, 4], box_indices [N] (default 0..N-1)              -> [N, C, h, w]
// A box [start, end] along an axis is sampled like an image of (end - start + 1) pixels
// placed at `start`, with resize_bilinear's sampling modes (ALIGN_CORNERS is TensorFlow's
// crop_and_resize); samples outside the image take pad_value (TensorFlow's
// extrapolation_value).
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/common/compute.h"
#include "kernels/image/image_kernels.h"
#include "kernels/image/sampling_grid.h"
#include "kernels/output_limits.h"

namespace coreml::kernels {
namespace {

struct Box {
  int64_t image = 0;  // batch index
  double y1 = 0, x1 = 0, y2 = 0, x2 = 0;
};

// Sample i of `out` along a box edge from `start`, spanning `length` pixels.
double box_grid_point(SamplingMode mode, int64_t i, int64_t out, double start, double length) {
  const double x = static_cast<double>(i);
  const double n = static_cast<double>(out);
  switch (mode) {
    case SamplingMode::kStrictAlignCorners: return out > 1 ? start + x * length / (n - 1) : start;
    case SamplingMode::kAlignCorners:
      return out > 1 ? start + x * length / (n - 1) : start + length / 2;
    case SamplingMode::kDefault: {
      const double g = out > 1 ? x * ((length + 1) - (length + 1) / n) / (n - 1) : 0.0;
      return start + std::clamp(g, 0.0, std::max(0.0, length));
    }
    case SamplingMode::kOffsetCorners: {
      const double delta = length / n;
      return start + 0.5 * delta + x * delta;
    }
    case SamplingMode::kUnalignCorners: {
      const double g = (x + 0.5) * (length + 1) / n - 0.5;
      return start + std::clamp(g, 0.0, std::max(0.0, length));
    }
  }
  return start;
}

// The four coordinates in box_coordinate_mode order -> corners (y1, x1, y2, x2).
void set_corners(const runtime::OpContext& ctx, const std::string& mode, const double* c, Box& b) {
  if (mode == "CORNERS_HEIGHT_FIRST") {
    b.y1 = c[0], b.x1 = c[1], b.y2 = c[2], b.x2 = c[3];
  } else if (mode == "CORNERS_WIDTH_FIRST") {
    b.x1 = c[0], b.y1 = c[1], b.x2 = c[2], b.y2 = c[3];
  } else if (mode == "CENTER_SIZE_HEIGHT_FIRST") {
    b.y1 = c[0] - c[2] / 2, b.x1 = c[1] - c[3] / 2, b.y2 = c[0] + c[2] / 2, b.x2 = c[1] + c[3] / 2;
  } else if (mode == "CENTER_SIZE_WIDTH_FIRST") {
    b.x1 = c[0] - c[2] / 2, b.y1 = c[1] - c[3] / 2, b.x2 = c[0] + c[2] / 2, b.y2 = c[1] + c[3] / 2;
  } else {
    ctx.fail("unknown box_coordinate_mode '", mode,
             "' (expected CORNERS_HEIGHT_FIRST, CORNERS_WIDTH_FIRST, CENTER_SIZE_HEIGHT_FIRST or "
             "CENTER_SIZE_WIDTH_FIRST)");
  }
}

void crop_resize(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() != 4) ctx.fail("x must have rank 4, got ", x.rank());
  const int64_t batch = x.shape()[0], channels = x.shape()[1], height = x.shape()[2],
                width = x.shape()[3];
  const int64_t out_h = ctx.get_int("target_height", 1);
  const int64_t out_w = ctx.get_int("target_width", 1);
  if (out_h < 0 || out_w < 0 || out_h > (1 << 24) || out_w > (1 << 24)) {
    ctx.fail("target size ", out_h, " x ", out_w, " is out of range");
  }
  const bool normalized = ctx.get_bool("normalized_coordinates", false);
  const double spatial_scale = ctx.get_float("spatial_scale", 1.0);
  const std::string box_mode = ctx.get_string("box_coordinate_mode", "CORNERS_HEIGHT_FIRST");
  const SamplingMode mode = sampling_mode_of(ctx, ctx.get_string("sampling_mode", "DEFAULT"));
  const auto pad_value = static_cast<float>(ctx.get_float("pad_value", 0.0));

  // Boxes, and for each the images it applies to.
  std::vector<Box> boxes;
  std::vector<int64_t> out_shape;
  const bool ios17 = ctx.has("boxes");
  if (ios17) {
    const Tensor& b = ctx.in("boxes");
    if (b.rank() != 2 || b.shape()[1] != 4) ctx.fail("boxes must have shape [N, 4]");
    const int64_t n = b.shape()[0];
    const auto coords = load_f64(b);
    std::vector<int64_t> indices(static_cast<size_t>(n));
    if (ctx.has("box_indices")) {
      const Tensor& bi = ctx.in("box_indices");
      if (bi.numel() != n) ctx.fail("box_indices must have ", n, " values, got ", bi.numel());
      indices = load_i64(bi);
    } else {
      for (int64_t i = 0; i < n; ++i) indices[static_cast<size_t>(i)] = i;
    }
    for (int64_t i = 0; i < n; ++i) {
      Box box;
      box.image = indices[static_cast<size_t>(i)];
      set_corners(ctx, box_mode, &coords[static_cast<size_t>(i * 4)], box);
      boxes.push_back(box);
    }
    out_shape = {n, channels, out_h, out_w};
  } else {
    const Tensor& roi = ctx.in("roi");
    if (roi.rank() != 5 || (roi.shape()[2] != 4 && roi.shape()[2] != 5)) {
      ctx.fail("roi must have shape [N, 1, 4, 1, 1] or [N, 1, 5, 1, 1]");
    }
    const int64_t n = roi.shape()[0];
    const int64_t per = roi.shape()[2];
    if (roi.numel() != n * per) ctx.fail("roi must have shape [N, 1, ", per, ", 1, 1]");
    const auto coords = load_f64(roi);
    for (int64_t i = 0; i < n; ++i) {
      const double* c = &coords[static_cast<size_t>(i * per)];
      if (per == 5) {
        Box box;
        if (!(c[0] >= 0 && c[0] < static_cast<double>(batch))) {
          ctx.fail("roi ", i, " refers to image ", c[0], " of ", batch);
        }
        box.image = static_cast<int64_t>(c[0]);
        set_corners(ctx, box_mode, c + 1, box);
        boxes.push_back(box);
      } else {
        for (int64_t image = 0; image < batch; ++image) {
          Box box;
          box.image = image;
          set_corners(ctx, box_mode, c, box);
          boxes.push_back(box);
        }
      }
    }
    out_shape = {n, per == 5 ? 1 : batch, channels, out_h, out_w};
  }

  const auto data = load_f32(x);
  const int64_t plane = height * width;
  std::vector<float> result(static_cast<size_t>(checked_output_elements(ctx, out_shape)));
  for (size_t k = 0; k < boxes.size(); ++k) {
    Box b = boxes[k];
    if (b.image < 0 || b.image >= batch)
      ctx.fail("box ", k, " refers to image ", b.image, " of ", batch);
    const double sy = spatial_scale * (normalized ? static_cast<double>(height - 1) : 1.0);
    const double sx = spatial_scale * (normalized ? static_cast<double>(width - 1) : 1.0);
    b.y1 *= sy, b.y2 *= sy, b.x1 *= sx, b.x2 *= sx;
    for (int64_t c = 0; c < channels; ++c) {
      const float* src = data.data() + (b.image * channels + c) * plane;
      float* dst = result.data() + (static_cast<int64_t>(k) * channels + c) * out_h * out_w;
      for (int64_t i = 0; i < out_h; ++i) {
        const double gy = box_grid_point(mode, i, out_h, b.y1, b.y2 - b.y1);
        for (int64_t j = 0; j < out_w; ++j) {
          const double gx = box_grid_point(mode, j, out_w, b.x1, b.x2 - b.x1);
          float& out = dst[i * out_w + j];
          if (!(gy >= 0 && gy <= static_cast<double>(height - 1) && gx >= 0 &&
                gx <= static_cast<double>(width - 1))) {
            out = pad_value;
            continue;
          }
          const auto y0 = static_cast<int64_t>(std::floor(gy));
          const auto x0 = static_cast<int64_t>(std::floor(gx));
          const int64_t y1 = std::min(y0 + 1, height - 1), x1 = std::min(x0 + 1, width - 1);
          const auto fy = static_cast<float>(gy - static_cast<double>(y0));
          const auto fx = static_cast<float>(gx - static_cast<double>(x0));
          const float top =
              src[y0 * width + x0] + (src[y0 * width + x1] - src[y0 * width + x0]) * fx;
          const float bottom =
              src[y1 * width + x0] + (src[y1 * width + x1] - src[y1 * width + x0]) * fx;
          out = top + (bottom - top) * fy;
        }
      }
    }
  }
  emit(ctx, 0, out_shape, result);
}

}  // namespace

void register_crop_resize_kernels(runtime::KernelRegistry& r) { r.add("crop_resize", crop_resize); }

}  // namespace coreml::kernels
