#include "runtime/compressed/sparse_weight.h"

#include <algorithm>

#include "coreml/error.h"
#include "tensor/convert.h"

namespace coreml::runtime::compressed {

SparseWeight::SparseWeight(std::vector<int64_t> shape, const uint8_t* mask, int64_t mask_bytes,
                           std::shared_ptr<const void> keep_mask_alive, Tensor values)
    : shape_(std::move(shape)),
      mask_(mask),
      mask_bytes_(mask_bytes),
      keep_alive_(std::move(keep_mask_alive)),
      values_(values.contiguous()) {
  int64_t count = 1;
  for (int64_t d : shape_) {
    if (d < 0 || (d != 0 && count > (int64_t{1} << 40) / d)) {
      fail(ErrorCode::kInvalidArgument, "sparse weight: bad shape");
    }
    count *= d;
  }
  if (mask_bytes_ * 8 < count) {
    fail(ErrorCode::kInvalidArgument, "sparse weight: the mask holds ", mask_bytes_ * 8,
         " bits for ", count, " elements");
  }
  const int64_t rows = shape_.empty() ? 1 : shape_[0];
  const int64_t row_size = rows == 0 ? 0 : count / rows;
  row_start_.resize(static_cast<size_t>(rows) + 1);
  int64_t next = 0;
  for (int64_t r = 0; r < rows; ++r) {
    row_start_[static_cast<size_t>(r)] = next;
    for (int64_t i = r * row_size; i < (r + 1) * row_size; ++i) next += mask_bit(mask_, i);
  }
  row_start_[static_cast<size_t>(rows)] = next;
  if (next != values_.numel()) {
    fail(ErrorCode::kInvalidArgument, "sparse weight: the mask has ", next, " set bits for ",
         values_.numel(), " nonzero values");
  }
}

void SparseWeight::decode_rows(int64_t begin, int64_t end, float* out) const {
  const int64_t n = row_size();
  std::fill(out, out + (end - begin) * n, 0.0f);
  // The nonzeros of rows [begin, end) are contiguous in values_: widen them once.
  const int64_t first = row_start_[static_cast<size_t>(begin)];
  std::vector<float> nonzero(static_cast<size_t>(row_start_[static_cast<size_t>(end)] - first));
  if (!nonzero.empty()) {
    tensor_detail::convert_elements(static_cast<const std::byte*>(values_.data()) +
                                        static_cast<size_t>(first) * values_.itemsize(),
                                    values_.dtype(), nonzero.data(), DType::kFloat32,
                                    nonzero.size());
  }
  size_t next = 0;
  for (int64_t r = begin; r < end; ++r) {
    float* row = out + (r - begin) * n;
    for (int64_t j = 0; j < n; ++j) {
      if (mask_bit(mask_, r * n + j)) row[j] = nonzero[next++];
    }
  }
}

int64_t SparseWeight::stored_bytes() const {
  return mask_bytes_ + static_cast<int64_t>(values_.nbytes());
}

}  // namespace coreml::runtime::compressed
