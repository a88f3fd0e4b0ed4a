// Row loops shared by the reduction and normalization kernels: rows of an [outer, n, inner]
// layout are gathered into contiguous fp32 scratch (only when inner > 1) so the per-row math
// is always a tight loop over contiguous floats.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common/compute.h"
#include "kernels/reduction/axis_layout.h"

namespace coreml::kernels {

// Rows per parallel chunk: enough work (~16K elements) to be worth a thread hand-off.
inline int64_t row_grain(int64_t n) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
}

// Calls fn(row_index, const E* row) for every row; `row` is contiguous (n elements).
template <typename E, typename Fn>
void for_each_row(runtime::ThreadPool& pool, const E* base, const AxisLayout& l, Fn fn) {
  pool.parallel_for(l.rows(), row_grain(l.n), [&](int64_t begin, int64_t end) {
    std::vector<E> scratch(l.inner > 1 ? static_cast<size_t>(l.n) : 0);
    for (int64_t r = begin; r < end; ++r) {
      const E* src = base + row_start(l, r);
      if (l.inner == 1) {
        fn(r, src);
        continue;
      }
      for (int64_t j = 0; j < l.n; ++j) scratch[j] = src[j * l.inner];
      fn(r, static_cast<const E*>(scratch.data()));
    }
  });
}

// Same-shape row transform: fn(row_index, const float* in, float* out) with both contiguous;
// results land in `dst` (row-major, same layout as `src`).
template <typename Fn>
void transform_rows(runtime::ThreadPool& pool, const float* src, float* dst, const AxisLayout& l,
                    Fn fn) {
  pool.parallel_for(l.rows(), row_grain(l.n), [&](int64_t begin, int64_t end) {
    std::vector<float> in(l.inner > 1 ? static_cast<size_t>(l.n) : 0);
    std::vector<float> out(in.size());
    for (int64_t r = begin; r < end; ++r) {
      const int64_t start = row_start(l, r);
      if (l.inner == 1) {
        fn(r, src + start, dst + start);
        continue;
      }
      for (int64_t j = 0; j < l.n; ++j) in[j] = src[start + j * l.inner];
      fn(r, static_cast<const float*>(in.data()), out.data());
      for (int64_t j = 0; j < l.n; ++j) dst[start + j * l.inner] = out[j];
    }
  });
}

// fp32 destination for output i: the output's own memory when it is fp32, else scratch that
// finish() rounds into the output once.
class F32Output {
 public:
  F32Output(runtime::OpContext& ctx, size_t i, const std::vector<int64_t>& shape)
      : out_(ctx.allocate_output(i, shape)) {
    if (out_.dtype() == DType::kFloat32) {
      ptr_ = out_.numel() > 0 ? static_cast<float*>(out_.data()) : nullptr;
    } else {
      scratch_.resize(static_cast<size_t>(out_.numel()));
      ptr_ = scratch_.data();
    }
  }
  float* data() { return ptr_; }
  void finish() {
    if (!scratch_.empty()) store(scratch_.data(), out_);
  }

 private:
  Tensor& out_;
  std::vector<float> scratch_;
  float* ptr_ = nullptr;
};

}  // namespace coreml::kernels
