#include "tensor/layout.h"

namespace coreml::tensor_detail {

int64_t checked_numel(const std::vector<int64_t>& shape, size_t itemsize, const char* what) {
  if (shape.size() > kMaxRank) {
    fail(ErrorCode::kInvalidArgument, what, ": rank ", shape.size(), " exceeds the limit of ",
         kMaxRank);
  }
  int64_t count = 1;
  // Strides multiply the non-zero dims even when another dim is 0 (see c_strides), so that
  // product must fit too.
  int64_t stride_span = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      fail(ErrorCode::kInvalidArgument, what, ": dimension ", i, " is negative (", shape[i], ")");
    }
    count = checked_mul(count, shape[i], what);
    stride_span = checked_mul(stride_span, shape[i] > 0 ? shape[i] : 1, what);
  }
  const int64_t bytes = checked_mul(count, static_cast<int64_t>(itemsize), what);
  if (static_cast<uint64_t>(bytes) > std::numeric_limits<size_t>::max()) {
    fail(ErrorCode::kInvalidArgument, what, ": ", bytes, " bytes do not fit in memory");
  }
  return count;
}

std::vector<int64_t> c_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i > 0; --i) {
    strides[i - 1] = stride;
    // Callers validated the shape, so this product cannot overflow; a zero dim keeps
    // strides meaningful for the dims after it.
    stride *= shape[i - 1] > 0 ? shape[i - 1] : 1;
  }
  return strides;
}

std::vector<int64_t> fortran_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    strides[i] = stride;
    stride *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

int64_t extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
               const char* what) {
  int64_t last = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return 0;
    if (strides[i] < 0) {
      fail(ErrorCode::kInvalidArgument, what, ": stride ", i, " is negative (", strides[i],
           "); only non-negative strides are supported");
    }
    last = checked_add(last, checked_mul(shape[i] - 1, strides[i], what), what);
  }
  return checked_add(last, 1, what);
}

}  // namespace coreml::tensor_detail
