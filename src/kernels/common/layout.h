// Fixed-capacity shapes and strides for prepared kernels: computed in reshape(), used in run()
// without touching the heap.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "coreml/tensor.h"
#include "runtime/thread_pool.h"

namespace coreml::kernels {

inline constexpr int kMaxLayoutRank = 16;

struct Layout {
  int rank = 0;
  std::array<int64_t, kMaxLayoutRank> shape{};
  std::array<int64_t, kMaxLayoutRank> strides{};  // in elements; may be 0 (broadcast)

  // Throws when `t` has more dimensions than kMaxLayoutRank.
  static Layout of(const Tensor& t);
  static Layout of(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);
  // C-ordered strides for `shape`.
  static Layout dense(const std::vector<int64_t>& shape);
  int64_t numel() const;
  // C order without gaps (size-1 dimensions' strides ignored).
  bool is_dense() const;
};

// Copies every element of the `src` view (C order over src.shape) into the `dst` view of the
// same shape: `itemsize` bytes each, no conversion. Adjacent dimensions are merged first, so
// dense runs move with memcpy. Never allocates. With a pool, copies of kParallelCopyBytes and
// more are shared out between its threads: on one thread, a copy of what two threads had just
// written was a serial step of every transformer layer (the split of its fused QKV projection)
// and of every UNet level (the concat of its skip connection).
inline constexpr int64_t kParallelCopyBytes = int64_t{128} << 10;
void copy_elements(const std::byte* src, const Layout& src_layout, std::byte* dst,
                   const Layout& dst_layout, size_t itemsize, runtime::ThreadPool* pool = nullptr);

// Merges adjacent dimensions of `a` (and `b`, walked in step) where both are contiguous
// across them, and drops size-1 dimensions; keeps the element order.
void coalesce(Layout& a, Layout* b = nullptr, Layout* c = nullptr);

// Walks rows [begin, end) of a row-major iteration over every dimension of `shape` but the
// last: fn(row, offsets) where offsets[i] is the element offset of the row's first element in
// operand i (whose layout covers `shape`, broadcast dimensions with stride 0).
template <size_t N, typename Fn>
void for_each_row(const Layout& shape, const std::array<const Layout*, N>& operands, int64_t begin,
                  int64_t end, Fn&& fn) {
  const int outer = shape.rank - 1;
  std::array<int64_t, kMaxLayoutRank> index{};
  int64_t rest = begin;
  for (int d = outer; d-- > 0;) {
    index[static_cast<size_t>(d)] = rest % shape.shape[static_cast<size_t>(d)];
    rest /= shape.shape[static_cast<size_t>(d)];
  }
  for (int64_t r = begin; r < end; ++r) {
    std::array<int64_t, N> offsets{};
    for (int d = 0; d < outer; ++d) {
      for (size_t k = 0; k < N; ++k) {
        offsets[k] += index[static_cast<size_t>(d)] * operands[k]->strides[static_cast<size_t>(d)];
      }
    }
    fn(r, offsets);
    for (int d = outer; d-- > 0;) {
      if (++index[static_cast<size_t>(d)] < shape.shape[static_cast<size_t>(d)]) break;
      index[static_cast<size_t>(d)] = 0;
    }
  }
}

// `t`'s layout broadcast to `shape` (right-aligned; broadcast dimensions get stride 0).
Layout broadcast_to(const Tensor& t, const std::vector<int64_t>& shape);

// Rows of `shape` (every dimension but the last).
inline int64_t row_count(const Layout& shape) {
  return shape.rank == 0 ? 1
                         : shape.numel() / std::max<int64_t>(
                                               1, shape.shape[static_cast<size_t>(shape.rank - 1)]);
}

}  // namespace coreml::kernels
