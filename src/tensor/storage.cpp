#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <new>

#include "coreml/tensor.h"

namespace coreml {

namespace {

// From this size up, owned storage is an anonymous mapping of its own (page aligned, zeroed by
// the kernel, given back to the system when freed). From the heap, glibc keeps freed blocks below
// its mmap threshold, which rises to the largest block freed (up to 32 MB), for reuse: a run's
// large buffers, freed and made again among small allocations, fragmented the heap (a Whisper
// encoder's heap held 18 MB after 400 predictions, 2 MB as mappings) and stayed resident after
// their last use. The size is glibc's initial threshold, 128 KiB: a block above it that glibc
// maps itself and then frees raises the threshold, after which every block up to that size
// comes from the heap (with 256 KiB here, the recorded run's 128-256 KiB buffers did so, and a
// DeiT-tiny's heap ended at 4.5 MB or 6.7 MB from run to run; 3.7-4.5 MB now).
// Under AddressSanitizer every block comes from the heap, whose redzones catch a kernel writing
// or reading past a buffer (a mapping has none before its page's end).
#if defined(__SANITIZE_ADDRESS__)
#define COREML_STORAGE_MAPS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COREML_STORAGE_MAPS 0
#endif
#endif
#ifndef COREML_STORAGE_MAPS
#define COREML_STORAGE_MAPS 1
#endif
constexpr size_t kMappedBytes = COREML_STORAGE_MAPS ? size_t{128} << 10 : SIZE_MAX;

}  // namespace

std::shared_ptr<Storage> Storage::allocate_for_overwrite(size_t nbytes) {
  if (nbytes >= kMappedBytes) {
    // A failed mapping (the process's limit of mappings, say) falls back to the heap.
    void* mapped =
        ::mmap(nullptr, nbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped != MAP_FAILED) {
      auto storage = std::shared_ptr<Storage>(
          new Storage(static_cast<std::byte*>(mapped), nbytes, true, nullptr));
      storage->mapped_ = true;
      return storage;
    }
  }
  // Never a zero-sized request, so every storage has a distinct, aligned address.
  const size_t request = nbytes == 0 ? kAlignment : nbytes;
  void* memory = nullptr;
  try {
    memory = ::operator new (request, std::align_val_t{kAlignment});
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::kInvalidArgument, "Storage::allocate: cannot allocate ", nbytes, " bytes");
  }
  return std::shared_ptr<Storage>(
      new Storage(static_cast<std::byte*>(memory), nbytes, true, nullptr));
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto storage = allocate_for_overwrite(nbytes);
  // A fresh mapping is zeros already (and untouched pages cost nothing until written).
  if (!storage->mapped_) std::memset(storage->data(), 0, nbytes);
  return storage;
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t nbytes,
                                         std::shared_ptr<void> keep_alive) {
  if (data == nullptr && nbytes != 0) {
    fail(ErrorCode::kInvalidArgument, "Storage::borrow: null data pointer for ", nbytes, " bytes");
  }
  return std::shared_ptr<Storage>(
      new Storage(static_cast<std::byte*>(data), nbytes, false, std::move(keep_alive)));
}

Storage::~Storage() {
  if (owned_ && mapped_) {
    ::munmap(data_, nbytes_);
  } else if (owned_) {
    ::operator delete (data_, std::align_val_t{kAlignment});
  }
  // keep_alive_ releases the borrowed memory's owner (if any) as the member is destroyed.
}

}  // namespace coreml
