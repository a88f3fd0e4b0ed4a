// NumPy broadcasting for elementwise binary kernels: the output shape, and a plan that walks
// the output in contiguous rows so the inner loop is a tight loop over at most two pointers.
//
// Dimensions are right-aligned; each pair must be equal or contain a 1. The plan drops size-1
// output dimensions and merges neighbours that are contiguous in both operands, so a
// same-shape pair becomes one row, a scalar operand has inner step 0, and a [rows, cols] x
// [cols] pair becomes `rows` rows of `cols` with the second operand's step 1 and offset 0.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace coreml::kernels {

// The broadcast result of two shapes, or nullopt when they are incompatible.
std::optional<std::vector<int64_t>> broadcast_shape(const std::vector<int64_t>& a,
                                                    const std::vector<int64_t>& b);

class BroadcastPlan {
 public:
  // `a` and `b` must broadcast to `out` (see broadcast_shape); operands are row-major.
  BroadcastPlan(const std::vector<int64_t>& out, const std::vector<int64_t>& a,
                const std::vector<int64_t>& b);

  int64_t rows() const { return rows_; }
  int64_t row_size() const { return inner_; }
  // Element step of each operand along a row: 0 (broadcast) or 1.
  int64_t a_step() const { return a_inner_; }
  int64_t b_step() const { return b_inner_; }

  // Walks rows [begin, end): fn(out_offset, a_offset, b_offset) for each row, in order.
  template <typename Fn>
  void for_rows(int64_t begin, int64_t end, Fn&& fn) const {
    if (begin >= end) return;
    const size_t outer = outer_sizes_.size();
    // Multi-index of row `begin` over the outer dimensions (last is fastest).
    std::vector<int64_t> index(outer, 0);
    int64_t a_off = 0, b_off = 0;
    int64_t rest = begin;
    for (size_t d = outer; d-- > 0;) {
      index[d] = rest % outer_sizes_[d];
      rest /= outer_sizes_[d];
      a_off += index[d] * a_strides_[d];
      b_off += index[d] * b_strides_[d];
    }
    for (int64_t row = begin; row < end; ++row) {
      fn(row * inner_, a_off, b_off);
      // Advance the odometer.
      for (size_t d = outer; d-- > 0;) {
        ++index[d];
        a_off += a_strides_[d];
        b_off += b_strides_[d];
        if (index[d] < outer_sizes_[d]) break;
        a_off -= index[d] * a_strides_[d];
        b_off -= index[d] * b_strides_[d];
        index[d] = 0;
      }
    }
  }

 private:
  int64_t rows_ = 1;
  int64_t inner_ = 1;
  int64_t a_inner_ = 0;
  int64_t b_inner_ = 0;
  std::vector<int64_t> outer_sizes_;
  std::vector<int64_t> a_strides_;
  std::vector<int64_t> b_strides_;
};

}  // namespace coreml::kernels
