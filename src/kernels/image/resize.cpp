// resize_bilinear and resize_nearest_neighbor (last two axes to a constant size), iOS17 resize
// (the last `resized_dims` axes to sizes read from a tensor at run time), and crop.
#include <string>

#include "kernels/common/compute.h"
#include "kernels/image/axis_resample.h"
#include "kernels/image/image_kernels.h"
#include "kernels/output_limits.h"
#include "kernels/shape/data_movement.h"

namespace coreml::kernels {
namespace {

int64_t target_size(const runtime::OpContext& ctx, const char* param, int64_t fallback) {
  const int64_t n = ctx.get_int(param, fallback);
  if (n < 0 || n > (int64_t{1} << 31)) ctx.fail(param, " ", n, " is out of range");
  return n;
}

void check_resizable(const runtime::OpContext& ctx, const std::vector<int64_t>& shape, size_t axis,
                     int64_t out) {
  if (shape[axis] == 0 && out > 0) {
    ctx.fail("cannot resize an empty dimension (axis ", axis, ") to ", out, " elements");
  }
}

enum class Interpolation { kLinear, kNearest };

// Resizes the axes `first..rank-1` of x to `sizes` and emits output 0.
void resize_trailing_axes(runtime::OpContext& ctx, const Tensor& x,
                          const std::vector<int64_t>& sizes, Interpolation interpolation,
                          SamplingMode mode) {
  std::vector<int64_t> shape = x.shape();
  const size_t first = shape.size() - sizes.size();
  for (size_t k = 0; k < sizes.size(); ++k) check_resizable(ctx, shape, first + k, sizes[k]);
  std::vector<int64_t> out_shape = shape;
  for (size_t k = 0; k < sizes.size(); ++k) out_shape[first + k] = sizes[k];
  checked_output_elements(ctx, out_shape);
  if (element_count(out_shape) == 0 || element_count(shape) == 0) {
    ctx.allocate_output(0, out_shape);
    return;
  }
  std::vector<float> data = load_f32(x);
  for (size_t k = sizes.size(); k-- > 0;) {
    const size_t axis = first + k;
    const auto taps = interpolation == Interpolation::kLinear
                          ? linear_taps(mode, sizes[k], shape[axis])
                          : nearest_taps(nearest_half_pixel_indices(sizes[k], shape[axis]));
    resize_axis(data, shape, axis, taps);
  }
  emit(ctx, 0, out_shape, data);
}

const Tensor& spatial_input(const runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() < 3) ctx.fail("x must have rank 3 or more, got ", x.rank());
  return x;
}

void resize_bilinear(runtime::OpContext& ctx) {
  const Tensor& x = spatial_input(ctx);
  const std::vector<int64_t> sizes = {target_size(ctx, "target_size_height", 1),
                                      target_size(ctx, "target_size_width", 1)};
  resize_trailing_axes(ctx, x, sizes, Interpolation::kLinear,
                       sampling_mode_of(ctx, ctx.get_string("sampling_mode", "DEFAULT")));
}

void resize_nearest_neighbor(runtime::OpContext& ctx) {
  const Tensor& x = spatial_input(ctx);
  const std::vector<int64_t> sizes = {target_size(ctx, "target_size_height", 1),
                                      target_size(ctx, "target_size_width", 1)};
  resize_trailing_axes(ctx, x, sizes, Interpolation::kNearest, SamplingMode::kDefault);
}

// iOS17 resize: the last `resized_dims` entries of `shape` give the sizes of the last
// `resized_dims` axes of x (0 keeps that axis's size).
void resize(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  // get_ints also reads a constant stored as uint32, which has no Tensor dtype.
  const std::vector<int64_t> shape = ctx.get_ints("shape");
  const int64_t resized = int_param(ctx, "resized_dims");
  if (resized < 0 || resized > static_cast<int64_t>(shape.size()) ||
      static_cast<int64_t>(shape.size()) > x.rank()) {
    ctx.fail("resized_dims ", resized, " with ", shape.size(), " sizes does not fit x of rank ",
             x.rank());
  }
  const std::string interpolation = ctx.get_string("interpolation_mode", "LINEAR");
  if (interpolation != "LINEAR" && interpolation != "NEAREST_NEIGHBOR") {
    ctx.fail("unknown interpolation_mode '", interpolation,
             "' (expected LINEAR or NEAREST_NEIGHBOR)");
  }
  const SamplingMode mode = sampling_mode_of(ctx, ctx.get_string("sampling_mode", "DEFAULT"));
  std::vector<int64_t> sizes;
  for (int64_t k = 0; k < resized; ++k) {
    const int64_t axis = x.rank() - resized + k;
    int64_t n = shape[shape.size() - static_cast<size_t>(resized - k)];
    if (n == 0) n = x.shape()[static_cast<size_t>(axis)];
    if (n < 0 || n > (int64_t{1} << 31)) ctx.fail("target size ", n, " is out of range");
    sizes.push_back(n);
  }
  resize_trailing_axes(ctx, x, sizes,
                       interpolation == "LINEAR" ? Interpolation::kLinear : Interpolation::kNearest,
                       mode);
}

// crop: removes crop_height = [top, bottom] rows and crop_width = [left, right] columns.
void crop(runtime::OpContext& ctx) {
  const Tensor& x = spatial_input(ctx);
  const auto h = ctx.get_ints("crop_height");
  const auto w = ctx.get_ints("crop_width");
  if (h.size() != 2 || w.size() != 2) ctx.fail("crop_height and crop_width need 2 values each");
  const int64_t rank = x.rank();
  const int64_t in_h = x.shape()[static_cast<size_t>(rank - 2)];
  const int64_t in_w = x.shape().back();
  if (h[0] < 0 || h[1] < 0 || w[0] < 0 || w[1] < 0 || h[0] + h[1] > in_h || w[0] + w[1] > in_w) {
    ctx.fail("crop amounts [", h[0], ", ", h[1], "] x [", w[0], ", ", w[1],
             "] do not fit an image of ", in_h, " x ", in_w);
  }
  emit_tensor(
      ctx, 0,
      x.narrow(rank - 2, h[0], in_h - h[0] - h[1]).narrow(rank - 1, w[0], in_w - w[0] - w[1]));
}

}  // namespace

void register_resize_kernels(runtime::KernelRegistry& r) {
  r.add("resize_bilinear", resize_bilinear);
  r.add("resize_nearest_neighbor", resize_nearest_neighbor);
  r.add("resize", resize);
  r.add("crop", crop);
}

}  // namespace coreml::kernels
