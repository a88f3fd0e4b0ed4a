// Internal shape/stride arithmetic shared by the tensor sources: checked products, C and
// Fortran strides, and a strided element walk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "coreml/error.h"

namespace coreml::tensor_detail {

// Rank limit (NumPy's NPY_MAXDIMS); keeps every per-dimension loop bounded.
inline constexpr size_t kMaxRank = 64;

// a * b, or an Error naming `what` if it overflows int64.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t result;
  if (__builtin_mul_overflow(a, b, &result)) {
    fail(ErrorCode::kInvalidArgument, what, ": size overflows 64 bits");
  }
  return result;
}

inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t result;
  if (__builtin_add_overflow(a, b, &result)) {
    fail(ErrorCode::kInvalidArgument, what, ": index overflows 64 bits");
  }
  return result;
}

// Validates a shape (rank <= 64, no negative dims) and returns its element count; the
// byte size numel * itemsize must also fit in a signed 64-bit (and size_t) value.
int64_t checked_numel(const std::vector<int64_t>& shape, size_t itemsize, const char* what);

std::vector<int64_t> c_strides(const std::vector<int64_t>& shape);
std::vector<int64_t> fortran_strides(const std::vector<int64_t>& shape);

// Elements from the first to the last addressed one, inclusive (0 for an empty tensor);
// i.e. the storage a view needs. Strides must be non-negative.
int64_t extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
               const char* what);

// Calls visit(offset) with the element offset (in elements, relative to the first
// element) of every element in C order. Nothing for an empty tensor.
template <typename Visit>
void for_each_offset(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                     Visit&& visit) {
  const size_t rank = shape.size();
  for (int64_t dim : shape) {
    if (dim == 0) return;
  }
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;
  while (true) {
    visit(offset);
    size_t d = rank;
    while (d > 0) {
      --d;
      if (++index[d] < shape[d]) {
        offset += strides[d];
        break;
      }
      offset -= strides[d] * (shape[d] - 1);
      index[d] = 0;
      if (d == 0) return;
    }
    if (rank == 0) return;
  }
}

}  // namespace coreml::tensor_detail
