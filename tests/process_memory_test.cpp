// The peak resident set reported by `coreml run` and by LLM generation is the reporting
// program's own: a program exec'd by a large one does not inherit its parent's peak (as
// getrusage's ru_maxrss does on Linux).
#include "runtime/process_memory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace coreml {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

// Run by PeakIsThisProgramsOwnAfterExec in a child process; skipped otherwise.
TEST(ProcessMemory, ChildReportsItsPeak) {
  if (!std::getenv("COREML_TEST_PEAK_RSS_CHILD")) {
    GTEST_SKIP() << "run by ProcessMemory.PeakIsThisProgramsOwnAfterExec";
  }
  std::printf("peak_rss_bytes=%lld\n", static_cast<long long>(runtime::peak_rss_bytes()));
}

TEST(ProcessMemory, PeakGrowsWithTouchedMemory) {
  const int64_t before = runtime::peak_rss_bytes();
  ASSERT_GT(before, 0);
  std::vector<char> block(static_cast<size_t>(64 * kMiB));
  std::memset(block.data(), 1, block.size());
  EXPECT_GE(runtime::peak_rss_bytes(), before + 60 * kMiB);
  EXPECT_EQ(block[block.size() / 2], 1);
}

TEST(ProcessMemory, PeakIsThisProgramsOwnAfterExec) {
  // This process holds 512 MiB; a shell forked from it (a copy of it) execs this test program.
  std::vector<char> block(static_cast<size_t>(512 * kMiB));
  std::memset(block.data(), 1, block.size());
  ASSERT_GE(runtime::peak_rss_bytes(), 512 * kMiB);
  const std::string command = "COREML_TEST_PEAK_RSS_CHILD=1 exec /proc/" +
                              std::to_string(::getpid()) +
                              "/exe --gtest_filter=ProcessMemory.ChildReportsItsPeak";
  FILE* child = ::popen(command.c_str(), "r");
  ASSERT_NE(child, nullptr);
  long long peak = -1;
  char line[512];
  while (std::fgets(line, sizeof(line), child)) std::sscanf(line, "peak_rss_bytes=%lld", &peak);
  ASSERT_EQ(::pclose(child), 0);
  ASSERT_GT(peak, 0) << "the child printed no peak";
  // The child's own image: tens of MB (more under sanitizers), far below its parent's 512 MiB.
  EXPECT_LT(peak, 256 * kMiB);
  EXPECT_EQ(block[block.size() / 2], 1);
}

}  // namespace
}  // namespace coreml
