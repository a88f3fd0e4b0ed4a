// Row access to a constant weight viewed as [rows, row_size], as fp32, whether it is dense
// (fp16/fp32/... in the mapped weight file) or compressed (LUT / quantized): kernels decode
// the rows they are about to use into a small scratch buffer instead of expanding the weight.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/value.h"

namespace coreml::kernels {

class WeightRows {
 public:
  explicit WeightRows(const runtime::RtValue& weight);

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t rows() const { return rows_; }
  int64_t row_size() const { return row_size_; }
  bool compressed() const { return compressed_ != nullptr; }
  // Decodes rows [begin, end) into `out` ((end - begin) * row_size floats).
  void decode(int64_t begin, int64_t end, float* out) const;

 private:
  const runtime::CompressedWeight* compressed_ = nullptr;
  Tensor dense_;  // contiguous
  std::vector<int64_t> shape_;
  int64_t rows_ = 1;
  int64_t row_size_ = 1;
};

}  // namespace coreml::kernels
