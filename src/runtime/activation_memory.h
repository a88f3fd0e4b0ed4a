// Memory for a run's activations: the recycling allocator's buffers and a plan's arena.
#pragma once

#include <cstddef>
#include <memory>

#include "coreml/tensor.h"

namespace coreml::runtime {

// `bytes` of zeroed memory, 64-byte aligned. Large blocks are mappings of their own, given back
// to the system when the last holder lets go: from the heap, glibc keeps freed blocks below its
// mmap threshold (which rises to the largest block freed, up to 32 MB) resident for reuse, so a
// recorded run's buffers, freed, would stay in the process's memory beside the plan's arena.
// The kernel's zero pages also cost nothing until written (no clearing pass).
std::shared_ptr<Storage> activation_storage(size_t bytes);

}  // namespace coreml::runtime
