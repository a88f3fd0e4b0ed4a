// Weight bytes the product kernels stream, copied once into anonymous memory for which the
// kernel is asked for transparent huge pages (2 MiB-aligned slabs that copies fill front to
// back, each copy 64-byte aligned, so memory is not rounded up per copy): a decode step streams
// hundreds of megabytes, and with the weight file's 4 KiB page-cache pages every page is a TLB miss
// and a stop for the hardware prefetcher. The file's pages are then dropped from this process (they
// stay in the page cache), so memory does not double. One copy per source range, shared by every
// kernel that asks while any holds it (the prefill and infer functions of one model read the same
// weights).
#pragma once

#include <cstddef>
#include <memory>

#include "coreml/tensor.h"

namespace coreml::runtime {

// A copy of [source, source + bytes); nullptr when copies are turned off
// (COREML_PACK_WEIGHTS=0) or `bytes` is small. Thread-safe.
std::shared_ptr<const void> packed_copy(const void* source, size_t bytes);

// `bytes` of writable memory (64-byte aligned) in the same huge-page slabs, for weights a kernel
// rearranges at load (panel_matrix.h); nullptr when memory cannot be mapped. Thread-safe.
std::shared_ptr<void> huge_pages(size_t bytes);

// Gives back the unused part of the huge page the last copy ends in (up to 2 MiB, resident since
// the copy touched it): called when a function has finished loading. Thread-safe.
void release_unused_huge_page();

// When [source, source + bytes) lies in a weight file's mapping, drops its whole pages from
// this process (they stay in the page cache and are read again if touched): for a weight whose
// kernel keeps its own copy.
void drop_file_pages(const void* source, size_t bytes);
// The same for a weight's tensor (its whole bytes): for a kernel that keeps its own copy of it.
inline void drop_file_pages(const Tensor& weight) {
  drop_file_pages(weight.data(), weight.nbytes());
}

}  // namespace coreml::runtime
