// Views a tensor as [outer, n, inner] around the axes an op reduces or normalizes over, so
// kernels run tight loops over rows of n elements (stride `inner`) whatever the axes are.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "coreml/tensor.h"
#include "runtime/op_context.h"

namespace coreml::kernels {

struct AxisLayout {
  int64_t outer = 1;  // rows before the block
  int64_t n = 1;      // elements per row (product of the reduced axes)
  int64_t inner = 1;  // stride between consecutive row elements
  int64_t rows() const { return outer * inner; }
};

// `axes` normalized against `rank`, sorted and de-duplicated; absent means every axis.
std::vector<int64_t> sorted_axes(const runtime::OpContext& ctx,
                                 const std::optional<std::vector<int64_t>>& axes, int64_t rank);

// x arranged so the reduced axes form one contiguous block: x itself when they already do,
// else a permuted view (kept axes first, in order, then the reduced ones). `perm` is empty
// when nothing was permuted.
struct AxisBlock {
  Tensor x;
  AxisLayout layout;
  std::vector<int64_t> perm;
};
AxisBlock axis_block(const Tensor& x, const std::vector<int64_t>& axes);

// Shape after reducing `axes` (sorted) of `shape`.
std::vector<int64_t> reduced_shape(const std::vector<int64_t>& shape,
                                   const std::vector<int64_t>& axes, bool keep_dims);

// Contiguous fp32 elements of a tensor: borrowed when it already is contiguous fp32,
// otherwise converted once (fp16 and friends widen here, never per element in a loop).
class F32Elements {
 public:
  explicit F32Elements(const Tensor& t);
  const float* data() const { return ptr_; }

 private:
  Tensor keep_;
  std::vector<float> copy_;
  const float* ptr_ = nullptr;
};

// Row r (0 <= r < layout.rows()) of `base` (row-major) starts here, elements `inner` apart.
inline int64_t row_start(const AxisLayout& l, int64_t r) {
  return (r / l.inner) * l.n * l.inner + r % l.inner;
}

}  // namespace coreml::kernels
