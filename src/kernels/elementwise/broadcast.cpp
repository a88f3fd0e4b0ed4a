#include "kernels/elementwise/broadcast.h"

#include <algorithm>

namespace coreml::kernels {

std::optional<std::vector<int64_t>> broadcast_shape(const std::vector<int64_t>& a,
                                                    const std::vector<int64_t>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned: dimension i of the output is dimension i - (rank - size) of an operand.
    const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {
// Row-major strides of `shape` right-aligned to `rank`, with 0 for broadcast dimensions.
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& shape, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  int64_t step = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    const size_t d = k + rank - shape.size();
    strides[d] = shape[k] == 1 ? 0 : step;
    step *= shape[k];
  }
  return strides;
}

struct Dim {
  int64_t size;
  int64_t a_stride;
  int64_t b_stride;
};
}  // namespace

BroadcastPlan::BroadcastPlan(const std::vector<int64_t>& out, const std::vector<int64_t>& a,
                             const std::vector<int64_t>& b) {
  const auto sa = broadcast_strides(a, out.size());
  const auto sb = broadcast_strides(b, out.size());
  std::vector<Dim> dims;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 0) {  // empty output: nothing to walk
      rows_ = 0;
      inner_ = 0;
      return;
    }
    if (out[d] == 1) continue;
    const Dim next{out[d], sa[d], sb[d]};
    // Merge with the previous dimension when both operands step through them as one.
    if (!dims.empty() && dims.back().a_stride == next.a_stride * next.size &&
        dims.back().b_stride == next.b_stride * next.size) {
      dims.back() = {dims.back().size * next.size, next.a_stride, next.b_stride};
    } else {
      dims.push_back(next);
    }
  }
  if (dims.empty()) return;  // a single element
  inner_ = dims.back().size;
  a_inner_ = dims.back().a_stride;
  b_inner_ = dims.back().b_stride;
  dims.pop_back();
  for (const Dim& d : dims) {
    outer_sizes_.push_back(d.size);
    a_strides_.push_back(d.a_stride);
    b_strides_.push_back(d.b_stride);
    rows_ *= d.size;
  }
}

}  // namespace coreml::kernels
