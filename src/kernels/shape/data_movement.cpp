#include "kernels/shape/data_movement.h"

#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/common/layout.h"
#include "runtime/raw_constant.h"

namespace coreml::kernels {
namespace {

constexpr size_t kMaxRank = 64;

// Walks the outer dimensions (all but the last) of `shape`, calling row(offset) with the
// element offset of each innermost row, in C order.
template <typename Row>
void for_each_row(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  Row&& row) {
  for (int64_t d : shape) {
    if (d == 0) return;
  }
  if (shape.size() <= 1) {
    row(int64_t{0});
    return;
  }
  const size_t outer = shape.size() - 1;
  std::vector<int64_t> index(outer, 0);
  int64_t offset = 0;
  while (true) {
    row(offset);
    size_t d = outer;
    while (true) {
      if (d == 0) return;
      --d;
      if (++index[d] < shape[d]) {
        offset += strides[d];
        break;
      }
      offset -= strides[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

template <typename T>
void gather_row(const std::byte* src, int64_t stride, int64_t n, std::byte* dst) {
  const T* s = reinterpret_cast<const T*>(src);
  T* o = reinterpret_cast<T*>(dst);
  for (int64_t i = 0; i < n; ++i) o[i] = s[i * stride];
}

template <typename T>
void scatter_row(const std::byte* src, int64_t n, std::byte* dst, int64_t stride) {
  const T* s = reinterpret_cast<const T*>(src);
  T* o = reinterpret_cast<T*>(dst);
  for (int64_t i = 0; i < n; ++i) o[i * stride] = s[i];
}

// Moves one row of `n` elements between a strided location and a packed one.
void move_row(const std::byte* src, int64_t src_stride, std::byte* dst, int64_t dst_stride,
              int64_t n, size_t itemsize) {
  if (src_stride == 1 && dst_stride == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * itemsize);
    return;
  }
  const bool gather = dst_stride == 1;
  switch (itemsize) {
    case 1:
      gather ? gather_row<uint8_t>(src, src_stride, n, dst)
             : scatter_row<uint8_t>(src, n, dst, dst_stride);
      return;
    case 2:
      gather ? gather_row<uint16_t>(src, src_stride, n, dst)
             : scatter_row<uint16_t>(src, n, dst, dst_stride);
      return;
    case 4:
      gather ? gather_row<uint32_t>(src, src_stride, n, dst)
             : scatter_row<uint32_t>(src, n, dst, dst_stride);
      return;
    case 8:
      gather ? gather_row<uint64_t>(src, src_stride, n, dst)
             : scatter_row<uint64_t>(src, n, dst, dst_stride);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(dst + static_cast<ptrdiff_t>(i * dst_stride) * static_cast<ptrdiff_t>(itemsize),
                    src + static_cast<ptrdiff_t>(i * src_stride) * static_cast<ptrdiff_t>(itemsize),
                    itemsize);
      }
  }
}

}  // namespace

StridedView view_of(const Tensor& t) {
  StridedView v;
  v.base = static_cast<const std::byte*>(t.data());
  v.shape = t.shape();
  v.strides = t.strides();
  v.itemsize = t.itemsize();
  return v;
}

void copy_strided(const StridedView& src, std::byte* dst, runtime::ThreadPool* pool) {
  if (pool && pool->size() > 1 && src.shape.size() <= static_cast<size_t>(kMaxLayoutRank)) {
    int64_t count = 1;
    for (int64_t d : src.shape) count *= d;
    if (count * static_cast<int64_t>(src.itemsize) >= kParallelCopyBytes) {
      copy_elements(src.base, Layout::of(src.shape, src.strides), dst, Layout::dense(src.shape),
                    src.itemsize, pool);
      return;
    }
  }
  const int64_t inner = src.shape.empty() ? 1 : src.shape.back();
  const int64_t inner_stride = src.shape.empty() ? 1 : src.strides.back();
  const auto item = static_cast<ptrdiff_t>(src.itemsize);
  std::byte* out = dst;
  for_each_row(src.shape, src.strides, [&](int64_t offset) {
    move_row(src.base + offset * item, inner_stride, out, 1, inner, src.itemsize);
    out += inner * item;
  });
}

void scatter_strided(const std::byte* src, const StridedView& dst) {
  const int64_t inner = dst.shape.empty() ? 1 : dst.shape.back();
  const int64_t inner_stride = dst.shape.empty() ? 1 : dst.strides.back();
  const auto item = static_cast<ptrdiff_t>(dst.itemsize);
  auto* base = const_cast<std::byte*>(dst.base);
  const std::byte* in = src;
  for_each_row(dst.shape, dst.strides, [&](int64_t offset) {
    move_row(in, 1, base + offset * item, inner_stride, inner, dst.itemsize);
    in += inner * item;
  });
}

Tensor& allocate_like(runtime::OpContext& ctx, size_t i, const std::vector<int64_t>& shape,
                      DType like) {
  const DType declared = ctx.output_dtype(i);
  if (declared != like) {
    ctx.fail("output #", i, " is declared ", dtype_name(declared), " but the data is ",
             dtype_name(like));
  }
  return ctx.allocate_output(i, shape, like);
}

void emit_tensor(runtime::OpContext& ctx, size_t i, const Tensor& t) {
  const DType declared = ctx.output_dtype(i);
  if (t.dtype() != declared) {
    Tensor& out = ctx.allocate_output(i, t.shape(), declared);
    const Tensor converted = t.to(declared);
    if (out.numel() > 0) std::memcpy(out.data(), converted.data(), converted.nbytes());
    return;
  }
  if (t.is_contiguous()) {
    ctx.set_output(i, t);
    return;
  }
  Tensor& out = ctx.allocate_output(i, t.shape(), declared);
  if (out.numel() > 0) copy_strided(view_of(t), static_cast<std::byte*>(out.data()), &ctx.pool());
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d > 1; --d) strides[d - 2] = strides[d - 1] * shape[d - 1];
  return strides;
}

std::vector<int64_t> read_indices(const Tensor& t) { return load_i64(t); }

int64_t wrap_index(const runtime::OpContext& ctx, int64_t index, int64_t size, const char* what) {
  const int64_t wrapped = index < 0 ? index + size : index;
  if (wrapped < 0 || wrapped >= size) {
    ctx.fail(what, " ", index, " is out of range for a dimension of size ", size);
  }
  return wrapped;
}

int64_t int_param(const runtime::OpContext& ctx, const char* param) {
  if (ctx.has(param)) {
    const runtime::RtValue& v = ctx.value(param);
    if (v.raw && !runtime::tensor_dtype(v.raw->dtype())) {
      if (v.raw->element_count() != 1) ctx.fail("parameter '", param, "' must be a scalar");
      return v.raw->integer_at(0);
    }
  }
  return ctx.get_int(param);
}

void check_rank(const runtime::OpContext& ctx, size_t rank) {
  if (rank > kMaxRank) ctx.fail("rank ", rank, " exceeds the limit of ", kMaxRank);
}

}  // namespace coreml::kernels
