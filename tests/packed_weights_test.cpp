// Weight copies in huge-page memory: same bytes, shared per source range, and the weight file's
// pages, dropped from the process, still read back right.
#include "runtime/packed_weights.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "format/weight_file.h"

namespace coreml {
namespace {

TEST(PackedWeights, CopiesFileBytesAndTheFileStillReads) {
  if (const char* v = std::getenv("COREML_PACK_WEIGHTS"); v && std::string(v) == "0") {
    GTEST_SKIP() << "COREML_PACK_WEIGHTS=0";
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("coreml_packed_" + std::to_string(::getpid()) + ".bin");
  std::vector<uint8_t> bytes(3 << 20);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  auto file = format::MappedFile::open(path);
  const uint8_t* source = file->bytes().data() + 4096 + 3;  // unaligned, inside the file
  const size_t n = (2 << 20) + 12345;
  EXPECT_TRUE(format::in_file_mapping(source, n));
  EXPECT_FALSE(format::in_file_mapping(bytes.data(), n));
  auto copy = runtime::packed_copy(source, n);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.get()) % 64, 0u);
  EXPECT_EQ(std::memcmp(copy.get(), bytes.data() + 4096 + 3, n), 0);
  // Asked again while held: the same copy.
  EXPECT_EQ(runtime::packed_copy(source, n).get(), copy.get());
  // The file's pages were dropped from this process; reading them faults them back in.
  EXPECT_EQ(std::memcmp(source, bytes.data() + 4096 + 3, n), 0);
  // Small ranges are not copied.
  EXPECT_EQ(runtime::packed_copy(source, 1000), nullptr);
  file.reset();
  std::filesystem::remove(path);
}

// Copies of 1-3 MiB (a transformer's linear weights) share huge-page slabs instead of each
// being rounded up to whole 2 MiB pages: consecutive copies sit next to each other.
TEST(PackedWeights, CopiesShareSlabsWithoutRoundingUpToHugePages) {
  if (const char* v = std::getenv("COREML_PACK_WEIGHTS"); v && std::string(v) == "0") {
    GTEST_SKIP() << "COREML_PACK_WEIGHTS=0";
  }
  const size_t n = (size_t{2} << 20) + (size_t{1} << 18) + 1000;  // 2.25 MiB + 1000 bytes
  std::vector<std::vector<uint8_t>> sources(5, std::vector<uint8_t>(n));
  std::vector<std::shared_ptr<const void>> copies;
  for (size_t s = 0; s < sources.size(); ++s) {
    for (size_t i = 0; i < n; ++i) sources[s][i] = static_cast<uint8_t>(i * 3 + s * 101);
    copies.push_back(runtime::packed_copy(sources[s].data(), n));
    ASSERT_NE(copies.back(), nullptr);
  }
  const size_t stride = (n + 63) / 64 * 64;
  size_t adjacent = 0;
  for (size_t s = 0; s < copies.size(); ++s) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(copies[s].get()) % 64, 0u);
    EXPECT_EQ(std::memcmp(copies[s].get(), sources[s].data(), n), 0) << "copy " << s;
    if (s > 0 && static_cast<const uint8_t*>(copies[s].get()) ==
                     static_cast<const uint8_t*>(copies[s - 1].get()) + stride) {
      ++adjacent;
    }
  }
  // Other tests' copies may have started a slab, so one gap (a new slab) is allowed.
  EXPECT_GE(adjacent, copies.size() - 2);
  // Releasing some copies leaves the others intact.
  copies[1].reset();
  copies[3].reset();
  EXPECT_EQ(std::memcmp(copies[4].get(), sources[4].data(), n), 0);
}

TEST(PackedWeights, LargeCopiesSplitOverThreadsKeepEveryByte) {
  if (const char* v = std::getenv("COREML_PACK_WEIGHTS"); v && std::string(v) == "0") {
    GTEST_SKIP() << "COREML_PACK_WEIGHTS=0";
  }
  // 21 MiB + 3 bytes: several 2 MiB-aligned chunks and an odd tail.
  std::vector<uint8_t> bytes((21 << 20) + 3);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 13 + (i >> 20));
  auto copy = runtime::packed_copy(bytes.data(), bytes.size());
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(std::memcmp(copy.get(), bytes.data(), bytes.size()), 0);
}

// Whether the mapping holding `address` has `flag` among its VmFlags (/proc/self/smaps: a
// "start-end perms ..." line per mapping, then its fields, VmFlags last).
bool vma_flag(uintptr_t address, const std::string& flag) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long first = 0, last = 0;
    int end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx %n", &first, &last, &end) == 2 && end > 0) {
      inside = first <= address && address < last;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return (line + " ").find(" " + flag + " ") != std::string::npos;
    }
  }
  return false;
}

// A slab's huge page is resident whole once its first byte is touched. When loading ends, the
// part past the last copy goes back to the system, and later copies still work there. (Where the
// kernel gives no transparent huge pages the tail was never resident and this holds trivially.)
TEST(PackedWeights, UnusedTailOfTheLastHugePageIsGivenBack) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const size_t n = (size_t{3} << 19) + 100;  // 1.5 MiB + 100 bytes
  std::shared_ptr<void> first = runtime::huge_pages(n);
  ASSERT_NE(first, nullptr);
  auto* bytes = static_cast<uint8_t*>(first.get());
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(i * 5 + 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(bytes) + n;
  const uintptr_t tail = (end + page - 1) / page * page;
  const uintptr_t boundary = (end + kHuge - 1) / kHuge * kHuge;

  runtime::release_unused_huge_page();
  const size_t pages = (boundary - tail) / page;
  std::vector<unsigned char> resident(pages + 1);
  if (pages > 0) {
    ASSERT_EQ(::mincore(reinterpret_cast<void*>(tail), boundary - tail, resident.data()), 0);
    for (size_t i = 0; i < pages; ++i) EXPECT_EQ(resident[i] & 1, 0) << "page " << i << " of tail";
  }
  // khugepaged must not make the tail resident again: it is marked for small pages ("nh").
  if (pages > 0 && std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled")) {
    EXPECT_TRUE(vma_flag(tail, "nh")) << "the released tail is not marked MADV_NOHUGEPAGE";
  }
  for (size_t i = 0; i < n; ++i) {
    if (bytes[i] != static_cast<uint8_t>(i * 5 + 1)) FAIL() << "byte " << i << " changed";
  }
  // The next copy goes where the tail was.
  std::shared_ptr<void> second = runtime::huge_pages(page * 3);
  ASSERT_NE(second, nullptr);
  std::memset(second.get(), 0xab, page * 3);
  EXPECT_EQ(static_cast<uint8_t*>(second.get())[page * 3 - 1], 0xab);
  EXPECT_EQ(bytes[n - 1], static_cast<uint8_t>((n - 1) * 5 + 1));
}

}  // namespace
}  // namespace coreml
