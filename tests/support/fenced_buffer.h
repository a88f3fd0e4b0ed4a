// `elements` of `bytes_each` placed so that the page before the buffer and the page after it
// are inaccessible: a SIMD loop that loads or stores outside its run faults instead of
// passing by luck. Against the end page (at_end) or against the start page.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>

namespace coreml::testing {

class FencedBuffer {
 public:
  FencedBuffer(size_t elements, size_t bytes_each, bool at_end) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = elements * bytes_each;
    const size_t inner = (bytes + page_ - 1) / page_ * page_;
    size_ = inner + 2 * page_;
    base_ = static_cast<std::byte*>(
        mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED) std::abort();
    mprotect(base_, page_, PROT_NONE);
    mprotect(base_ + page_ + inner, page_, PROT_NONE);
    data_ = base_ + page_ + (at_end ? inner - bytes : 0);
  }
  ~FencedBuffer() { munmap(base_, size_); }
  FencedBuffer(const FencedBuffer&) = delete;
  FencedBuffer& operator=(const FencedBuffer&) = delete;
  void* data() const { return data_; }

 private:
  std::byte* base_ = nullptr;
  std::byte* data_ = nullptr;
  size_t size_ = 0, page_ = 0;
};

}  // namespace coreml::testing
