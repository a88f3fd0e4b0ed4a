#include "kernels/reduction/axis_layout.h"

#include <algorithm>

#include "kernels/common/compute.h"

namespace coreml::kernels {

std::vector<int64_t> sorted_axes(const runtime::OpContext& ctx,
                                 const std::optional<std::vector<int64_t>>& axes, int64_t rank) {
  std::vector<int64_t> out;
  if (!axes) {
    for (int64_t a = 0; a < rank; ++a) out.push_back(a);
    return out;
  }
  for (int64_t a : *axes) out.push_back(normalize_axis(ctx, a, rank));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

AxisBlock axis_block(const Tensor& x, const std::vector<int64_t>& axes) {
  const auto& shape = x.shape();
  const int64_t rank = x.rank();
  AxisBlock block{x, {}, {}};
  if (axes.empty()) {
    block.layout.outer = element_count(shape);
    return block;
  }
  bool consecutive = true;
  for (size_t i = 1; i < axes.size(); ++i) consecutive &= axes[i] == axes[i - 1] + 1;
  if (consecutive) {
    for (int64_t a = 0; a < rank; ++a) {
      if (a < axes.front()) {
        block.layout.outer *= shape[a];
      } else if (a <= axes.back()) {
        block.layout.n *= shape[a];
      } else {
        block.layout.inner *= shape[a];
      }
    }
    return block;
  }
  for (int64_t a = 0; a < rank; ++a) {
    if (!std::binary_search(axes.begin(), axes.end(), a)) {
      block.perm.push_back(a);
      block.layout.outer *= shape[a];
    }
  }
  for (int64_t a : axes) {
    block.perm.push_back(a);
    block.layout.n *= shape[a];
  }
  block.x = x.permute(block.perm);
  return block;
}

std::vector<int64_t> reduced_shape(const std::vector<int64_t>& shape,
                                   const std::vector<int64_t>& axes, bool keep_dims) {
  std::vector<int64_t> out;
  for (size_t a = 0; a < shape.size(); ++a) {
    const bool reduced = std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(a));
    if (!reduced) {
      out.push_back(shape[a]);
    } else if (keep_dims) {
      out.push_back(1);
    }
  }
  return out;
}

F32Elements::F32Elements(const Tensor& t) {
  if (t.dtype() == DType::kFloat32 && t.is_contiguous()) {
    keep_ = t;
    ptr_ = t.numel() > 0 ? static_cast<const float*>(t.data()) : nullptr;
  } else {
    copy_ = load_f32(t);
    ptr_ = copy_.data();
  }
}

}  // namespace coreml::kernels
