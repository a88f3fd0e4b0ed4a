// sliding_windows, space_to_batch and batch_to_space: pure data movement (bytes copied through
// strided views, every dtype exact).
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/output_limits.h"
#include "kernels/shape/data_movement.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

// sliding_windows(x, axis, size, stride): [..., d, ...] -> [..., (d - size) / stride + 1, size,
// ...] with window w holding x[..., w * stride + k, ...].
void sliding_windows(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  if (x.rank() == 0) ctx.fail("x must have rank 1 or more");
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis"), x.rank());
  const int64_t size = ctx.get_int("size");
  const int64_t stride = ctx.get_int("stride", 1);
  const auto a = static_cast<size_t>(axis);
  const int64_t d = x.shape()[a];
  if (size < 1 || stride < 1)
    ctx.fail("size and stride must be positive, got ", size, " and ", stride);
  if (size > d) ctx.fail("window size ", size, " exceeds the dimension's ", d, " elements");
  const int64_t windows = (d - size) / stride + 1;
  StridedView view = view_of(x);
  const int64_t step = view.strides[a];
  view.shape[a] = windows;
  view.strides[a] = step * stride;
  view.shape.insert(view.shape.begin() + axis + 1, size);
  view.strides.insert(view.strides.begin() + axis + 1, step);
  check_rank(ctx, view.shape.size());
  checked_output_elements(ctx, view.shape);
  Tensor& out = allocate_like(ctx, 0, view.shape, x.dtype());
  if (out.numel() > 0) copy_strided(view, static_cast<std::byte*>(out.data()));
}

struct BlockGeometry {
  int64_t bh = 1, bw = 1;
  int64_t top = 0, bottom = 0, left = 0, right = 0;  // paddings or crops
};

BlockGeometry block_geometry(const runtime::OpContext& ctx, const Tensor& x, const char* amounts) {
  if (x.rank() != 4) ctx.fail("x must have rank 4 [N, C, H, W], got rank ", x.rank());
  const auto block = ctx.get_ints("block_shape");
  const auto pads = ctx.get_ints(amounts);
  if (block.size() != 2 || pads.size() != 4) {
    ctx.fail("block_shape must have 2 values and ", amounts, " shape [2, 2]");
  }
  BlockGeometry g{block[0], block[1], pads[0], pads[1], pads[2], pads[3]};
  if (g.bh < 1 || g.bw < 1 || g.bh > (1 << 16) || g.bw > (1 << 16)) {
    ctx.fail("block_shape values must be positive");
  }
  if (g.top < 0 || g.bottom < 0 || g.left < 0 || g.right < 0)
    ctx.fail(amounts, " must not be negative");
  return g;
}

// space_to_batch (TensorFlow's SpaceToBatchND on [N, C, H, W]): zero-pad H and W, then output
// batch (i * bw + j) * N + n holds padded[n, :, y * bh + i, x * bw + j].
void space_to_batch(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const BlockGeometry g = block_geometry(ctx, x, "paddings");
  const int64_t n = x.shape()[0], c = x.shape()[1];
  const int64_t hp = x.shape()[2] + g.top + g.bottom, wp = x.shape()[3] + g.left + g.right;
  if (hp % g.bh != 0 || wp % g.bw != 0) {
    ctx.fail("padded size ", hp, " x ", wp, " is not a multiple of the block ", g.bh, " x ", g.bw);
  }
  checked_output_elements(ctx, {n, c, hp, wp});
  Tensor padded = Tensor::zeros({n, c, hp, wp}, x.dtype());
  if (x.numel() > 0) {
    Tensor inner = padded.narrow(2, g.top, x.shape()[2]).narrow(3, g.left, x.shape()[3]);
    scatter_strided(static_cast<const std::byte*>(x.data()), view_of(inner));
  }
  const int64_t ho = hp / g.bh, wo = wp / g.bw;
  StridedView view = view_of(padded);
  view.shape = {g.bh, g.bw, n, c, ho, wo};
  view.strides = {wp, 1, c * hp * wp, hp * wp, g.bh * wp, g.bw};
  Tensor& out = allocate_like(ctx, 0, {g.bh * g.bw * n, c, ho, wo}, x.dtype());
  if (out.numel() > 0) copy_strided(view, static_cast<std::byte*>(out.data()));
}

// batch_to_space: the inverse of space_to_batch, then the crops are removed.
void batch_to_space(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const BlockGeometry g = block_geometry(ctx, x, "crops");
  const int64_t nb = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  if (nb % (g.bh * g.bw) != 0) {
    ctx.fail("batch ", nb, " is not a multiple of the block size ", g.bh * g.bw);
  }
  const int64_t n = nb / (g.bh * g.bw);
  const int64_t hf = h * g.bh, wf = w * g.bw;
  if (g.top + g.bottom > hf || g.left + g.right > wf) ctx.fail("crops exceed the output size");
  Tensor full = Tensor::empty({n, c, hf, wf}, x.dtype());
  StridedView view = view_of(x);
  const int64_t image = c * h * w;
  view.shape = {n, c, h, g.bh, w, g.bw};
  view.strides = {image, h * w, w, g.bw * n * image, 1, n * image};
  if (full.numel() > 0) copy_strided(view, static_cast<std::byte*>(full.data()));
  emit_tensor(
      ctx, 0,
      full.narrow(2, g.top, hf - g.top - g.bottom).narrow(3, g.left, wf - g.left - g.right));
}

}  // namespace

void register_window_kernels(runtime::KernelRegistry& r) {
  r.add("sliding_windows", sliding_windows);
  r.add("space_to_batch", space_to_batch);
  r.add("batch_to_space", batch_to_space);
}

}  // namespace coreml::kernels
