// A dense constant weight W [N outputs, K inputs] rearranged once, at load, for products whose
// results are rows of outputs (linear, matmul with a constant y): panels of kPanelWidth output
// columns, each stored [K][kPanelWidth] so that one input position's 64 weights are one
// contiguous run. The product kernel (panel_product.cpp) then broadcasts an activation value
// and multiplies it with whole vectors of a panel: results come out as rows of outputs, the
// activation is read in place, and nothing is transposed at run time.
// fp16 weights stay fp16 (widened as they load); fp32 stay fp32. The panels replace the weight
// file's pages in memory (those are dropped), so memory does not grow.
// Prepared once per weight and shared while any kernel holds it.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/value.h"

namespace coreml::kernels::linalg {

constexpr int64_t kPanelWidth = 64;

class PanelMatrix {
 public:
  // `weight` is a dense fp32 or fp16 [N, K], or with `transposed` [K, N]; nullptr for anything
  // else (compressed or other dtypes: the row-streaming kernel takes those).
  static std::shared_ptr<const PanelMatrix> create(const runtime::RtValue& weight, bool transposed);

  int64_t rows() const { return n_; }  // outputs
  int64_t cols() const { return k_; }  // inputs
  int64_t panels() const { return (n_ + kPanelWidth - 1) / kPanelWidth; }
  bool half() const { return half_; }
  // Panel p: K x kPanelWidth values (fp16 bits when half()), outputs past N zero.
  const void* panel(int64_t p) const {
    return static_cast<const char*>(data_.get()) + p * k_ * kPanelWidth * (half_ ? 2 : 4);
  }

 private:
  int64_t n_ = 0, k_ = 0;
  bool half_ = false;
  std::shared_ptr<void> data_;
};

}  // namespace coreml::kernels::linalg
