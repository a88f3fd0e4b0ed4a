// Ops that reorder elements through a strided read pattern: transpose, reverse, tile, pad,
// reverse_sequence, and the depth <-> space rearrangements.
#include <algorithm>
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/shape/data_movement.h"
#include "kernels/shape/shape_rules.h"
#include "runtime/kernel_registry.h"
#include "runtime/limits.h"
#include "tensor/convert.h"

namespace coreml::kernels {
namespace {

std::byte* out_bytes(Tensor& t) { return static_cast<std::byte*>(t.data()); }

// Materializes `view` into output 0.
void emit_view(runtime::OpContext& ctx, const StridedView& view, DType dtype) {
  Tensor& out = allocate_like(ctx, 0, view.shape, dtype);
  if (out.numel() > 0) copy_strided(view, out_bytes(out));
}

void transpose(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const std::vector<size_t> axes = permutation_rule(ctx, ctx.get_ints("perm"), x.rank());
  const StridedView in = view_of(x);
  StridedView view = in;
  for (size_t d = 0; d < axes.size(); ++d) {
    view.shape[d] = in.shape[axes[d]];
    view.strides[d] = in.strides[axes[d]];
  }
  emit_view(ctx, view, x.dtype());
}

// reverse(x, axes): every axis when `axes` is absent.
void reverse(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  StridedView view = view_of(x);
  std::vector<bool> flip(static_cast<size_t>(x.rank()), !ctx.has_param("axes"));
  if (const auto axes = ctx.get_ints_if("axes")) {
    for (int64_t a : *axes) flip[static_cast<size_t>(normalize_axis(ctx, a, x.rank()))] = true;
  }
  for (size_t d = 0; d < flip.size(); ++d) {
    if (!flip[d] || view.shape[d] == 0) continue;
    view.base += (view.shape[d] - 1) * view.strides[d] * static_cast<int64_t>(view.itemsize);
    view.strides[d] = -view.strides[d];
  }
  emit_view(ctx, view, x.dtype());
}

// tile(x, reps): read x as [r0, d0, r1, d1, ...] with zero strides on the r axes.
void tile(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const std::vector<int64_t> reps = ctx.get_ints("reps");
  if (static_cast<int64_t>(reps.size()) != x.rank()) {
    ctx.fail("reps has ", reps.size(), " entries for a rank-", x.rank(), " input");
  }
  check_rank(ctx, reps.size() * 2);
  const StridedView in = view_of(x);
  StridedView view = in;
  view.shape.clear();
  view.strides.clear();
  std::vector<int64_t> out_shape;
  for (size_t d = 0; d < reps.size(); ++d) {
    if (reps[d] < 0 || reps[d] > (int64_t{1} << 32))
      ctx.fail("reps entry ", reps[d], " is out of range");
    view.shape.insert(view.shape.end(), {reps[d], in.shape[d]});
    view.strides.insert(view.strides.end(), {0, in.strides[d]});
    out_shape.push_back(reps[d] * in.shape[d]);
  }
  runtime::check_tensor_budget(out_shape, x.dtype(), ctx.where());
  Tensor& out = allocate_like(ctx, 0, out_shape, x.dtype());
  if (out.numel() > 0) copy_strided(view, out_bytes(out));
}

// Source index along one dimension for output position `o` (before = leading pad), or -1
// for the constant.
int64_t pad_source(int64_t o, int64_t before, int64_t n, int mode) {
  int64_t i = o - before;
  if (i >= 0 && i < n) return i;
  if (mode == 0) return -1;
  if (mode == 1) {  // reflect (edge not repeated)
    const int64_t period = 2 * (n - 1);
    if (period == 0) return 0;
    i = ((i % period) + period) % period;
    return i < n ? i : period - i;
  }
  return std::clamp<int64_t>(i, 0, n - 1);  // replicate
}

// pad(x, pad, mode, constant_val): pad = [before, after] pairs for the last len(pad)/2 dims.
void pad(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const std::vector<int64_t> amounts = ctx.get_ints("pad");
  const std::string mode_name = ctx.get_string("mode", "constant");
  const int mode = mode_name == "constant"    ? 0
                   : mode_name == "reflect"   ? 1
                   : mode_name == "replicate" ? 2
                                              : -1;
  if (mode < 0) ctx.fail("unknown mode '", mode_name, "'");
  const size_t rank = static_cast<size_t>(x.rank());
  if (amounts.size() % 2 != 0 || amounts.size() / 2 > rank) {
    ctx.fail("pad has ", amounts.size(), " entries; expected an even count up to ", 2 * rank);
  }
  const size_t first = rank - amounts.size() / 2;
  std::vector<int64_t> out_shape = x.shape();
  std::vector<int64_t> befores(rank, 0);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t n = x.shape()[d];
    int64_t before = 0, after = 0;
    if (d >= first) {
      before = amounts[2 * (d - first)];
      after = amounts[2 * (d - first) + 1];
    }
    if (before < 0 || after < 0) ctx.fail("negative pad amounts are not supported");
    if (mode != 0 && n == 0 && before + after > 0)
      ctx.fail("cannot ", mode_name, "-pad an empty dimension");
    if (mode == 1 && (before >= n || after >= n) && n > 0 && before + after > 0) {
      ctx.fail("reflect padding must be smaller than the dimension (", n, ")");
    }
    if (before > (int64_t{1} << 40) || after > (int64_t{1} << 40)) ctx.fail("pad amount too large");
    out_shape[d] = n + before + after;
    befores[d] = before;
  }
  // Allocate first: an absurd size fails in the allocator before any per-dimension table.
  runtime::check_tensor_budget(out_shape, x.dtype(), ctx.where());
  Tensor& out = allocate_like(ctx, 0, out_shape, x.dtype());
  if (out.numel() == 0) return;
  std::vector<std::vector<int64_t>> source(rank);
  for (size_t d = 0; d < rank; ++d) {
    source[d].resize(static_cast<size_t>(out_shape[d]));
    for (int64_t o = 0; o < out_shape[d]; ++o) {
      source[d][static_cast<size_t>(o)] = pad_source(o, befores[d], x.shape()[d], mode);
    }
  }
  const size_t item = x.itemsize();
  std::byte fill[8] = {};
  tensor_detail::store_double(ctx.get_float("constant_val", 0.0), x.dtype(), fill);
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  const auto* in = static_cast<const std::byte*>(x.data());
  std::byte* dst = out_bytes(out);
  // Walk output elements in C order, tracking each dim's output index.
  std::vector<int64_t> index(rank, 0);
  const int64_t total = out.numel();
  for (int64_t e = 0; e < total; ++e) {
    int64_t offset = 0;
    bool constant = false;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t s = source[d][static_cast<size_t>(index[d])];
      if (s < 0) {
        constant = true;
        break;
      }
      offset += s * in_strides[d];
    }
    std::memcpy(dst + static_cast<size_t>(e) * item,
                constant ? fill : in + static_cast<size_t>(offset) * item, item);
    for (size_t d = rank; d > 0; --d) {
      if (++index[d - 1] < out_shape[d - 1]) break;
      index[d - 1] = 0;
    }
  }
}

// reverse_sequence(x, lengths, seq_axis, batch_axis): reverses the first lengths[b] elements
// along seq_axis of each batch entry b.
void reverse_sequence(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const std::vector<int64_t> lengths = read_indices(ctx.in("lengths"));
  const int64_t seq_axis = normalize_axis(ctx, ctx.get_int("seq_axis", 0), x.rank());
  const int64_t batch_axis = normalize_axis(ctx, ctx.get_int("batch_axis", 0), x.rank());
  const int64_t batch = x.shape()[static_cast<size_t>(batch_axis)];
  const int64_t seq = x.shape()[static_cast<size_t>(seq_axis)];
  if (seq_axis == batch_axis) ctx.fail("seq_axis and batch_axis must differ");
  if (static_cast<int64_t>(lengths.size()) != batch)
    ctx.fail("lengths must have ", batch, " entries");
  for (int64_t len : lengths) {
    if (len < 0 || len > seq) ctx.fail("length ", len, " is out of range [0, ", seq, "]");
  }
  Tensor& out = allocate_like(ctx, 0, x.shape(), x.dtype());
  if (out.numel() == 0) return;
  std::memcpy(out.data(), x.data(), x.nbytes());
  const std::vector<int64_t> strides = contiguous_strides(x.shape());
  // For each batch entry, the reversed part is a strided view written over the output.
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = lengths[static_cast<size_t>(b)];
    if (len <= 1) continue;
    StridedView src = view_of(x);
    src.shape[static_cast<size_t>(batch_axis)] = 1;
    src.shape[static_cast<size_t>(seq_axis)] = len;
    src.base += (b * strides[static_cast<size_t>(batch_axis)] +
                 (len - 1) * strides[static_cast<size_t>(seq_axis)]) *
                static_cast<int64_t>(x.itemsize());
    src.strides[static_cast<size_t>(seq_axis)] = -strides[static_cast<size_t>(seq_axis)];
    std::vector<std::byte> packed(static_cast<size_t>(element_count(src.shape)) * x.itemsize());
    copy_strided(src, packed.data());
    StridedView dst = src;
    dst.base = out_bytes(out) +
               b * strides[static_cast<size_t>(batch_axis)] * static_cast<int64_t>(x.itemsize());
    dst.strides = strides;
    scatter_strided(packed.data(), dst);
  }
}

// Reads a rank-4 contiguous x as a rank-6 split `split_shape` and emits it permuted by `perm`.
void rearrange(runtime::OpContext& ctx, const Tensor& x, const std::vector<int64_t>& split_shape,
               const std::vector<int64_t>& perm, const std::vector<int64_t>& out_shape) {
  StridedView in;
  in.base = static_cast<const std::byte*>(x.data());
  in.itemsize = x.itemsize();
  const std::vector<int64_t> strides = contiguous_strides(split_shape);
  for (int64_t p : perm) {
    in.shape.push_back(split_shape[static_cast<size_t>(p)]);
    in.strides.push_back(strides[static_cast<size_t>(p)]);
  }
  Tensor& out = allocate_like(ctx, 0, out_shape, x.dtype());
  if (out.numel() > 0) copy_strided(in, out_bytes(out));
}

struct Nchw {
  int64_t n, c, h, w;
};

Nchw nchw(runtime::OpContext& ctx, const Tensor& x) {
  if (x.rank() != 4) ctx.fail("x must have rank 4, got ", x.rank());
  return {x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]};
}

int64_t block(runtime::OpContext& ctx, const char* param) {
  const int64_t b = int_param(ctx, param);
  if (b < 1 || b > (1 << 16)) ctx.fail(param, " ", b, " is out of range");
  return b;
}

// depth_to_space: channel (i * bs + j) * C' + c moves to (c, h * bs + i, w * bs + j) (DCR).
void depth_to_space(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const auto [n, c, h, w] = nchw(ctx, x);
  const int64_t bs = block(ctx, "block_size");
  if (c % (bs * bs) != 0) ctx.fail("channels ", c, " are not divisible by block_size^2");
  const int64_t co = c / (bs * bs);
  rearrange(ctx, x, {n, bs, bs, co, h, w}, {0, 3, 4, 1, 5, 2}, {n, co, h * bs, w * bs});
}

// space_to_depth: the inverse of depth_to_space.
void space_to_depth(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const auto [n, c, h, w] = nchw(ctx, x);
  const int64_t bs = block(ctx, "block_size");
  if (h % bs != 0 || w % bs != 0) ctx.fail("spatial size is not divisible by block_size");
  rearrange(ctx, x, {n, c, h / bs, bs, w / bs, bs}, {0, 3, 5, 1, 2, 4},
            {n, c * bs * bs, h / bs, w / bs});
}

// pixel_shuffle (PyTorch): channel c * f^2 + i * f + j moves to (c, h * f + i, w * f + j).
void pixel_shuffle(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const auto [n, c, h, w] = nchw(ctx, x);
  const int64_t f = block(ctx, "upscale_factor");
  if (c % (f * f) != 0) ctx.fail("channels ", c, " are not divisible by upscale_factor^2");
  const int64_t co = c / (f * f);
  rearrange(ctx, x, {n, co, f, f, h, w}, {0, 1, 4, 2, 5, 3}, {n, co, h * f, w * f});
}

void pixel_unshuffle(runtime::OpContext& ctx) {
  const Tensor x = ctx.in("x").contiguous();
  const auto [n, c, h, w] = nchw(ctx, x);
  const int64_t f = block(ctx, "downscale_factor");
  if (h % f != 0 || w % f != 0) ctx.fail("spatial size is not divisible by downscale_factor");
  rearrange(ctx, x, {n, c, h / f, f, w / f, f}, {0, 1, 3, 5, 2, 4}, {n, c * f * f, h / f, w / f});
}

}  // namespace

void register_permute_kernels(runtime::KernelRegistry& r) {
  r.add("transpose", transpose);
  r.add("reverse", reverse);
  r.add("tile", tile);
  r.add("pad", pad);
  r.add("reverse_sequence", reverse_sequence);
  r.add("depth_to_space", depth_to_space);
  r.add("space_to_depth", space_to_depth);
  r.add("pixel_shuffle", pixel_shuffle);
  r.add("pixel_unshuffle", pixel_unshuffle);
}

}  // namespace coreml::kernels
