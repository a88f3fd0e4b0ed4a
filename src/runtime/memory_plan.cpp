#include "runtime/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace coreml::runtime {

ArenaLayout place_buffers(const std::vector<BufferLifetime>& buffers, size_t alignment) {
  const auto round_up = [alignment](size_t n) {
    return (n + alignment - 1) / alignment * alignment;
  };
  ArenaLayout layout;
  layout.offsets.assign(buffers.size(), 0);
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });
  struct Placed {
    size_t offset, end;
    int64_t first, last;
  };
  std::vector<Placed> placed;
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of placed buffers live with it
  for (size_t index : order) {
    const BufferLifetime& b = buffers[index];
    const size_t size = round_up(std::max<size_t>(b.bytes, 1));
    busy.clear();
    for (const Placed& p : placed) {
      if (p.last >= b.first && b.last >= p.first) busy.emplace_back(p.offset, p.end);
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (begin >= offset + size) break;  // fits in the gap before this one
      offset = std::max(offset, end);
    }
    layout.offsets[index] = offset;
    placed.push_back({offset, offset + size, b.first, b.last});
    layout.total_bytes = std::max(layout.total_bytes, offset + size);
  }
  return layout;
}

}  // namespace coreml::runtime
