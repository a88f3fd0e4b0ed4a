#include "kernels/common/layout.h"

#include <cstring>

#include "coreml/error.h"

namespace coreml::kernels {

Layout Layout::of(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  if (shape.size() > static_cast<size_t>(kMaxLayoutRank)) {
    fail(ErrorCode::kUnsupported, "rank ", shape.size(), " exceeds the limit of ", kMaxLayoutRank);
  }
  Layout l;
  l.rank = static_cast<int>(shape.size());
  for (int d = 0; d < l.rank; ++d) {
    l.shape[static_cast<size_t>(d)] = shape[static_cast<size_t>(d)];
    l.strides[static_cast<size_t>(d)] = strides[static_cast<size_t>(d)];
  }
  return l;
}

Layout Layout::of(const Tensor& t) { return of(t.shape(), t.strides()); }

Layout Layout::dense(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return of(shape, strides);
}

int64_t Layout::numel() const {
  int64_t n = 1;
  for (int d = 0; d < rank; ++d) n *= shape[static_cast<size_t>(d)];
  return n;
}

bool Layout::is_dense() const {
  int64_t expected = 1;
  for (int d = rank; d-- > 0;) {
    const auto i = static_cast<size_t>(d);
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

Layout broadcast_to(const Tensor& t, const std::vector<int64_t>& shape) {
  if (shape.size() > static_cast<size_t>(kMaxLayoutRank) || t.shape().size() > shape.size()) {
    fail(ErrorCode::kUnsupported, "rank ", shape.size(), " exceeds the limit of ", kMaxLayoutRank);
  }
  Layout l;
  l.rank = static_cast<int>(shape.size());
  const size_t offset = shape.size() - t.shape().size();
  for (size_t d = 0; d < shape.size(); ++d) {
    l.shape[d] = shape[d];
    l.strides[d] = (d < offset || t.shape()[d - offset] == 1) ? 0 : t.strides()[d - offset];
  }
  return l;
}

void coalesce(Layout& a, Layout* b, Layout* c) {
  Layout* all[3] = {&a, b, c};
  int out = 0;
  for (int d = 0; d < a.rank; ++d) {
    const auto i = static_cast<size_t>(d);
    if (a.shape[i] == 1) continue;
    if (out > 0) {
      const auto prev = static_cast<size_t>(out - 1);
      bool merge = true;
      for (Layout* l : all) {
        if (l && l->strides[prev] != l->strides[i] * l->shape[i]) merge = false;
      }
      if (merge) {
        for (Layout* l : all) {
          if (!l) continue;
          l->shape[prev] *= l->shape[i];
          l->strides[prev] = l->strides[i];
        }
        continue;
      }
    }
    for (Layout* l : all) {
      if (!l) continue;
      l->shape[static_cast<size_t>(out)] = l->shape[i];
      l->strides[static_cast<size_t>(out)] = l->strides[i];
    }
    ++out;
  }
  for (Layout* l : all) {
    if (l) l->rank = out;
  }
}

namespace {

template <size_t kItem>
void copy_inner(const std::byte* src, int64_t src_stride, std::byte* dst, int64_t dst_stride,
                int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + i * dst_stride * static_cast<int64_t>(kItem),
                src + i * src_stride * static_cast<int64_t>(kItem), kItem);
  }
}

void copy_run(const std::byte* src, int64_t src_stride, std::byte* dst, int64_t dst_stride,
              int64_t n, size_t itemsize) {
  if (src_stride == 1 && dst_stride == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * itemsize);
    return;
  }
  switch (itemsize) {
    case 1: return copy_inner<1>(src, src_stride, dst, dst_stride, n);
    case 2: return copy_inner<2>(src, src_stride, dst, dst_stride, n);
    case 4: return copy_inner<4>(src, src_stride, dst, dst_stride, n);
    case 8: return copy_inner<8>(src, src_stride, dst, dst_stride, n);
    default:
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(dst + i * dst_stride * static_cast<int64_t>(itemsize),
                    src + i * src_stride * static_cast<int64_t>(itemsize), itemsize);
      }
  }
}

}  // namespace

void copy_elements(const std::byte* src, const Layout& src_layout, std::byte* dst,
                   const Layout& dst_layout, size_t itemsize) {
  Layout s = src_layout, d = dst_layout;
  if (s.numel() == 0) return;
  coalesce(s, &d);
  if (s.rank == 0) {
    std::memcpy(dst, src, itemsize);
    return;
  }
  const int inner = s.rank - 1;
  const int64_t n = s.shape[static_cast<size_t>(inner)];
  std::array<int64_t, kMaxLayoutRank> index{};
  const auto item = static_cast<int64_t>(itemsize);
  for (;;) {
    int64_t so = 0, dof = 0;
    for (int k = 0; k < inner; ++k) {
      so += index[static_cast<size_t>(k)] * s.strides[static_cast<size_t>(k)];
      dof += index[static_cast<size_t>(k)] * d.strides[static_cast<size_t>(k)];
    }
    copy_run(src + so * item, s.strides[static_cast<size_t>(inner)], dst + dof * item,
             d.strides[static_cast<size_t>(inner)], n, itemsize);
    int k = inner - 1;
    for (; k >= 0; --k) {
      if (++index[static_cast<size_t>(k)] < s.shape[static_cast<size_t>(k)]) break;
      index[static_cast<size_t>(k)] = 0;
    }
    if (k < 0) return;
  }
}

}  // namespace coreml::kernels
