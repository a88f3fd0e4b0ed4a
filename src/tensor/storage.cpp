#include <cstring>
#include <new>

#include "coreml/tensor.h"

namespace coreml {

std::shared_ptr<Storage> Storage::allocate_for_overwrite(size_t nbytes) {
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
  std::memset(storage->data(), 0, nbytes);
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
  if (owned_) ::operator delete (data_, std::align_val_t{kAlignment});
  // keep_alive_ releases the borrowed memory's owner (if any) as the member is destroyed.
}

}  // namespace coreml
