// Static placement of activation buffers in one arena (computed once per input signature).
//
// Each buffer is live over a closed range of steps [first, last]. Two buffers whose ranges
// intersect must not overlap in memory; others may share it. Placement is greedy by size
// (largest first, each at the lowest offset that fits between the already placed buffers it
// is live with), which is what TFLite's and XNNPACK's planners do and is within a few percent
// of optimal on real networks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace coreml::runtime {

struct BufferLifetime {
  size_t bytes = 0;
  int64_t first = 0;  // step that writes it first (-1: before the first step)
  int64_t last = 0;   // last step that reads it (>= first)
};

struct ArenaLayout {
  std::vector<size_t> offsets;  // per buffer, multiples of `alignment`
  size_t total_bytes = 0;
};

ArenaLayout place_buffers(const std::vector<BufferLifetime>& buffers, size_t alignment = 64);

}  // namespace coreml::runtime
