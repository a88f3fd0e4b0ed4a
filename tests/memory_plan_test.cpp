// Arena placement: buffers live at the same time never overlap; buffers that do not may share.
#include "runtime/memory_plan.h"

#include <gtest/gtest.h>

#include <random>

namespace coreml::runtime {
namespace {

void expect_valid(const std::vector<BufferLifetime>& buffers, const ArenaLayout& layout) {
  ASSERT_EQ(layout.offsets.size(), buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_EQ(layout.offsets[i] % 64, 0u);
    EXPECT_LE(layout.offsets[i] + buffers[i].bytes, layout.total_bytes);
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      const bool live_together =
          buffers[i].last >= buffers[j].first && buffers[j].last >= buffers[i].first;
      const bool overlap = layout.offsets[i] < layout.offsets[j] + buffers[j].bytes &&
                           layout.offsets[j] < layout.offsets[i] + buffers[i].bytes;
      EXPECT_FALSE(live_together && overlap) << i << " and " << j;
    }
  }
}

TEST(MemoryPlan, AChainReusesMemory) {
  // a -> b -> c -> d, each dying when the next is made: two buffers' worth suffice.
  std::vector<BufferLifetime> chain = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  const ArenaLayout layout = place_buffers(chain);
  expect_valid(chain, layout);
  EXPECT_EQ(layout.total_bytes, 2 * 1024u);
}

TEST(MemoryPlan, RandomLifetimesNeverOverlap) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferLifetime> buffers;
    size_t sum = 0;
    for (int i = 0; i < 60; ++i) {
      const int64_t first = static_cast<int64_t>(rng() % 100) - 1;
      const int64_t last = first + static_cast<int64_t>(rng() % 20);
      const size_t bytes = 1 + rng() % 5000;
      buffers.push_back({bytes, first, last});
      sum += (bytes + 63) / 64 * 64;
    }
    const ArenaLayout layout = place_buffers(buffers);
    expect_valid(buffers, layout);
    EXPECT_LE(layout.total_bytes, sum);
  }
}

}  // namespace
}  // namespace coreml::runtime
