#include "runtime/packed_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "format/weight_file.h"

namespace coreml::runtime {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kSmallest = size_t{1} << 20;  // smaller weights are not worth a copy

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("COREML_PACK_WEIGHTS");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

struct Key {
  const void* source;
  size_t bytes;
  bool operator<(const Key& o) const {
    return source != o.source ? source < o.source : bytes < o.bytes;
  }
};

// Fresh anonymous memory is zeroed by the kernel as it is first touched, which costs as much as
// the copy itself: large copies are split over the cores, each faulting in its own pages.
void parallel_copy(uint8_t* destination, const uint8_t* source, size_t bytes) {
  constexpr size_t kSplitFrom = size_t{8} << 20;
  const size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
  if (bytes < kSplitFrom || threads < 2) {
    std::memcpy(destination, source, bytes);
    return;
  }
  const size_t chunk = (bytes / threads + kHugePage - 1) / kHugePage * kHugePage;
  std::vector<std::thread> helpers;
  for (size_t first = chunk; first < bytes; first += chunk) {
    const size_t count = std::min(chunk, bytes - first);
    helpers.emplace_back([=] { std::memcpy(destination + first, source + first, count); });
  }
  std::memcpy(destination, source, std::min(chunk, bytes));
  for (auto& t : helpers) t.join();
}

// Memory from mmap (anonymous, 2 MiB aligned, huge pages asked for), unmapped when the last
// holder lets go.
std::shared_ptr<const void> huge_copy(const void* source, size_t bytes) {
  const size_t length = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* raw = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto* base = static_cast<uint8_t*>(raw);
  uint8_t* aligned = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(base) + kHugePage - 1) / kHugePage * kHugePage);
#ifdef MADV_HUGEPAGE
  ::madvise(aligned, length, MADV_HUGEPAGE);
#endif
  parallel_copy(aligned, static_cast<const uint8_t*>(source), bytes);
  ::mprotect(aligned, length, PROT_READ);
  // The source's whole pages are no longer needed by this process: when they belong to a
  // file mapping they can be dropped (they would be read again from the file if touched).
  const size_t total = length + kHugePage;
  std::shared_ptr<const void> copy(aligned, [raw, total](const void*) { ::munmap(raw, total); });
  if (!format::in_file_mapping(source, bytes)) return copy;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(source) + page - 1) / page * page;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(source) + bytes) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return copy;
}

}  // namespace

std::shared_ptr<const void> packed_copy(const void* source, size_t bytes) {
  if (!enabled() || bytes < kSmallest || !source) return nullptr;
  static std::mutex mutex;
  static std::map<Key, std::weak_ptr<const void>> copies;
  std::lock_guard<std::mutex> lock(mutex);
  auto& entry = copies[{source, bytes}];
  if (auto existing = entry.lock()) return existing;
  auto copy = huge_copy(source, bytes);
  entry = copy;
  return copy;
}

}  // namespace coreml::runtime
