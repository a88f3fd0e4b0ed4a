// Software prefetch of a run a kernel will touch next, for data whose streams are too many for
// the hardware prefetcher to follow (one per output channel or output line).
#pragma once

#include <cstdint>

namespace coreml::kernels {

// Asks the cache for every 64-byte line of the `bytes` bytes starting `offset` bytes past
// `base` (kWrite: about to be written). The address is computed as an integer: the run may lie
// past the end of its buffer (a caller's next run, when there is none), where pointer
// arithmetic would be undefined, and a prefetch never faults.
template <int kWrite = 0>
inline void prefetch_run(const void* base, uint64_t offset, uint64_t bytes) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(base) + static_cast<uintptr_t>(offset);
  for (uintptr_t a = begin; a < begin + static_cast<uintptr_t>(bytes); a += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(a), kWrite);
  }
}

}  // namespace coreml::kernels
