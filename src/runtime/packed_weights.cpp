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
#include "runtime/env_flag.h"

namespace coreml::runtime {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kSmallest = size_t{1} << 20;  // smaller weights are not worth a copy

bool enabled() {
  static const bool on = env_flag("COREML_PACK_WEIGHTS", true);
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

// Copies live in slabs: anonymous mappings aligned to 2 MiB with huge pages asked for, handed
// out front to back. One mapping per copy would round every copy up to whole huge pages (a
// 2.4 MiB linear weight would hold 4 MiB); in a slab only the last huge page is partly unused.
// A slab is unmapped when the last copy in it is released.
constexpr size_t kSlabBytes = size_t{64} << 20;
constexpr size_t kCopyAlignment = 64;

class Slab {
 public:
  // nullptr when the mapping fails.
  static std::shared_ptr<Slab> map(size_t bytes) {
    const size_t length = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* raw = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    auto* aligned = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + kHugePage - 1) /
                                               kHugePage * kHugePage);
#ifdef MADV_HUGEPAGE
    ::madvise(aligned, length, MADV_HUGEPAGE);
#endif
    return std::shared_ptr<Slab>(new Slab(raw, length + kHugePage, aligned, length));
  }
  ~Slab() { ::munmap(raw_, mapped_); }
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  // `bytes` of the slab's unused space, or nullptr when it does not fit.
  uint8_t* take(size_t bytes) {
    const size_t at = (used_ + kCopyAlignment - 1) / kCopyAlignment * kCopyAlignment;
    if (at > capacity_ || bytes > capacity_ - at) return nullptr;
    used_ = at + bytes;
    return base_ + at;
  }

  // Gives back the untouched rest of the huge page the slab's last copy ends in. Touching a
  // huge page's first byte made all 2 MiB of it resident; past the last copy it holds nothing.
  // The kernel splits the huge page to do it, and a later copy faults in small pages there.
  // The rest is also marked for small pages only: else khugepaged, which by default collapses
  // a range with a single page present, would make the whole huge page resident again within
  // seconds (seen: a ResNet-18 fp16's 1.8 MB back after 10 s).
  void release_tail() {
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t from = (used_ + page - 1) / page * page;
    const size_t to = std::min(capacity_, (used_ + kHugePage - 1) / kHugePage * kHugePage);
    if (to <= from) return;
    ::madvise(base_ + from, to - from, MADV_DONTNEED);
#ifdef MADV_NOHUGEPAGE
    ::madvise(base_ + from, to - from, MADV_NOHUGEPAGE);
#endif
  }

 private:
  Slab(void* raw, size_t mapped, uint8_t* base, size_t capacity)
      : raw_(raw), mapped_(mapped), base_(base), capacity_(capacity) {}
  void* raw_;
  size_t mapped_;
  uint8_t* base_;
  size_t capacity_;
  size_t used_ = 0;
};

// The slab copies are put in; weak: a slab whose copies are all released goes away. Guarded by
// slab_mutex().
std::weak_ptr<Slab>& filling_slab() {
  static std::weak_ptr<Slab> filling;
  return filling;
}

// Room for `bytes` in the slab being filled, or in a new one (at least kSlabBytes). The caller
// holds slab_mutex().
std::shared_ptr<void> slab_space(size_t bytes) {
  std::weak_ptr<Slab>& filling = filling_slab();
  std::shared_ptr<Slab> slab = filling.lock();
  uint8_t* at = slab ? slab->take(bytes) : nullptr;
  if (!at) {
    slab = Slab::map(std::max(bytes, kSlabBytes));
    if (!slab) return nullptr;
    at = slab->take(bytes);
    filling = slab;
  }
  return std::shared_ptr<void>(slab, at);  // shares the slab's lifetime
}

std::shared_ptr<const void> huge_copy(const void* source, size_t bytes) {
  std::shared_ptr<void> copy = slab_space(bytes);
  if (!copy) return nullptr;
  parallel_copy(static_cast<uint8_t*>(copy.get()), static_cast<const uint8_t*>(source), bytes);
  // The source's pages are no longer needed by this process.
  drop_file_pages(source, bytes);
  return copy;
}

std::mutex& slab_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

std::shared_ptr<const void> packed_copy(const void* source, size_t bytes) {
  if (!enabled() || bytes < kSmallest || !source) return nullptr;
  static std::map<Key, std::weak_ptr<const void>> copies;
  std::lock_guard<std::mutex> lock(slab_mutex());
  auto& entry = copies[{source, bytes}];
  if (auto existing = entry.lock()) return existing;
  auto copy = huge_copy(source, bytes);
  entry = copy;
  return copy;
}

std::shared_ptr<void> huge_pages(size_t bytes) {
  std::lock_guard<std::mutex> lock(slab_mutex());
  return slab_space(std::max<size_t>(bytes, 1));
}

void release_unused_huge_page() {
  std::lock_guard<std::mutex> lock(slab_mutex());
  if (const std::shared_ptr<Slab> slab = filling_slab().lock()) slab->release_tail();
}

void drop_file_pages(const void* source, size_t bytes) {
  // Only whole pages inside a file mapping: dropping them loses nothing (they are clean and
  // read again from the file if touched).
  if (!source || bytes == 0 || !format::in_file_mapping(source, bytes)) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(source) + page - 1) / page * page;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(source) + bytes) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace coreml::runtime
