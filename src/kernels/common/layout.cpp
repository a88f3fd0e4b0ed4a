#include "kernels/common/layout.h"

#include <algorithm>
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

namespace {

// Rows [first, last) of the coalesced views (all dimensions but the last), elements [from, to)
// of each.
void copy_rows(const std::byte* src, const Layout& s, std::byte* dst, const Layout& d,
               size_t itemsize, int64_t first, int64_t last, int64_t from, int64_t to) {
  const int inner = s.rank - 1;
  std::array<int64_t, kMaxLayoutRank> index{};
  for (int64_t k = inner - 1, rest = first; k >= 0; --k) {
    index[static_cast<size_t>(k)] = rest % s.shape[static_cast<size_t>(k)];
    rest /= s.shape[static_cast<size_t>(k)];
  }
  const auto item = static_cast<int64_t>(itemsize);
  const int64_t s_inner = s.strides[static_cast<size_t>(inner)];
  const int64_t d_inner = d.strides[static_cast<size_t>(inner)];
  for (int64_t r = first; r < last; ++r) {
    int64_t so = 0, dof = 0;
    for (int k = 0; k < inner; ++k) {
      so += index[static_cast<size_t>(k)] * s.strides[static_cast<size_t>(k)];
      dof += index[static_cast<size_t>(k)] * d.strides[static_cast<size_t>(k)];
    }
    copy_run(src + (so + from * s_inner) * item, s_inner, dst + (dof + from * d_inner) * item,
             d_inner, to - from, itemsize);
    for (int k = inner - 1; k >= 0; --k) {
      if (++index[static_cast<size_t>(k)] < s.shape[static_cast<size_t>(k)]) break;
      index[static_cast<size_t>(k)] = 0;
    }
  }
}

}  // namespace

void copy_elements(const std::byte* src, const Layout& src_layout, std::byte* dst,
                   const Layout& dst_layout, size_t itemsize, runtime::ThreadPool* pool) {
  Layout s = src_layout, d = dst_layout;
  if (s.numel() == 0) return;
  coalesce(s, &d);
  if (s.rank == 0) {
    std::memcpy(dst, src, itemsize);
    return;
  }
  const int64_t n = s.shape[static_cast<size_t>(s.rank - 1)];
  int64_t rows = 1;
  for (int k = 0; k < s.rank - 1; ++k) rows *= s.shape[static_cast<size_t>(k)];
  const int threads = pool ? pool->size() : 1;
  const auto row_bytes = static_cast<int64_t>(itemsize) * n;
  if (threads == 1 || rows * row_bytes < kParallelCopyBytes) {
    copy_rows(src, s, dst, d, itemsize, 0, rows, 0, n);
    return;
  }
  // Between threads: whole rows where there are rows enough, else parts of rows (a channel
  // concat's few long runs), each at least kParallelCopyBytes / 4.
  if (rows >= 4 * threads) {
    pool->parallel_for(
        rows, std::max<int64_t>(1, kParallelCopyBytes / 4 / row_bytes),
        [&](int64_t begin, int64_t end) { copy_rows(src, s, dst, d, itemsize, begin, end, 0, n); });
    return;
  }
  const int64_t parts = std::clamp<int64_t>(
      std::min<int64_t>((4 * threads + rows - 1) / rows, row_bytes * 4 / kParallelCopyBytes), 1, n);
  pool->parallel_for(rows * parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t r = unit / parts, part = unit % parts;
      copy_rows(src, s, dst, d, itemsize, r, r + 1, part * n / parts, (part + 1) * n / parts);
    }
  });
}

}  // namespace coreml::kernels
