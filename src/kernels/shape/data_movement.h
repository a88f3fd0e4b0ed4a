// Dtype-agnostic data movement shared by the shape and indexing kernels: these ops only move
// elements, so they copy bytes (itemsize 1/2/4/8) instead of converting to a compute type,
// which keeps every dtype exact and avoids per-element dtype switches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "coreml/tensor.h"
#include "runtime/op_context.h"
#include "runtime/thread_pool.h"

namespace coreml::kernels {

// A read pattern over a source buffer: element i (C order over `shape`) lives at
// base + sum(index[d] * strides[d]) elements. Strides may be negative or zero (reverse,
// negative slice steps, broadcasting); the caller guarantees every address is in bounds.
struct StridedView {
  const std::byte* base = nullptr;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements
  size_t itemsize = 1;
};

// The view of a whole tensor (its own shape, strides and first element).
StridedView view_of(const Tensor& t);

// Copies every element of `src` (C order) into contiguous `dst` (numel(src.shape) items); with
// a pool, large copies are shared out between its threads (copy_elements, kernels/common/layout.h).
void copy_strided(const StridedView& src, std::byte* dst, runtime::ThreadPool* pool = nullptr);

// Writes contiguous `src` (C order over `dst.shape`) into the elements `dst` addresses.
void scatter_strided(const std::byte* src, const StridedView& dst);

// `t` as a contiguous tensor in output i's declared dtype: the tensor itself when it already
// is one, otherwise a copy into a fresh output buffer. Sets output i.
void emit_tensor(runtime::OpContext& ctx, size_t i, const Tensor& t);

// Allocates output i with `shape` in the dtype of `like` (failing if the declared dtype
// differs, since data movement never converts).
Tensor& allocate_like(runtime::OpContext& ctx, size_t i, const std::vector<int64_t>& shape,
                      DType like);

// Row-major strides of `shape`, in elements.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

// Reads integer indices (any integer or float dtype) as int64.
std::vector<int64_t> read_indices(const Tensor& t);

// Maps a possibly negative index into [0, size), failing (naming `what`) when out of range.
int64_t wrap_index(const runtime::OpContext& ctx, int64_t index, int64_t size, const char* what);

// A scalar integer parameter, also when stored in a type a Tensor lacks (pixel_unshuffle's
// downscale_factor is uint32).
int64_t int_param(const runtime::OpContext& ctx, const char* param);

// Checks a rank against the bound every per-dimension loop relies on.
void check_rank(const runtime::OpContext& ctx, size_t rank);

}  // namespace coreml::kernels
