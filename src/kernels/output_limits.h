// A bound on the outputs whose size comes from an op's parameters rather than its inputs
// (target sizes, window counts, max_boxes): a hostile or broken model gets an Error naming
// the op instead of a runaway allocation.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/op_context.h"

namespace coreml::kernels {

// 2^32 elements (16 GB of fp32): far above any real model's activations.
constexpr int64_t kMaxOutputElements = int64_t{1} << 32;

// Element count of `shape`; fails on negative dimensions or more than kMaxOutputElements.
inline int64_t checked_output_elements(const runtime::OpContext& ctx,
                                       const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) ctx.fail("output dimension ", d, " is negative");
    if (d != 0 && count > kMaxOutputElements / d) {
      ctx.fail("the output would have more than ", kMaxOutputElements, " elements");
    }
    count *= d;
  }
  return count;
}

}  // namespace coreml::kernels
