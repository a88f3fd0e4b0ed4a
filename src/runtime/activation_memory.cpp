#include "runtime/activation_memory.h"

#include <sys/mman.h>

#include "coreml/error.h"

namespace coreml::runtime {

namespace {

// Below this, the heap: a mapping rounds up to whole pages and costs a system call.
constexpr size_t kMappedBytes = size_t{256} << 10;

}  // namespace

std::shared_ptr<Storage> activation_storage(size_t bytes) {
  if (bytes < kMappedBytes) return Storage::allocate(bytes);
  void* address =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (address == MAP_FAILED) {
    fail(ErrorCode::kInvalidArgument, "cannot map ", bytes, " bytes for activations");
  }
  // The keep-alive unmaps when the storage and every view of it are gone.
  std::shared_ptr<void> mapping(address, [bytes](void* a) { ::munmap(a, bytes); });
  return Storage::borrow(static_cast<std::byte*>(address), bytes, std::move(mapping));
}

}  // namespace coreml::runtime
