#include "kernels/common/weight_rows.h"

#include "coreml/error.h"
#include "tensor/convert.h"

namespace coreml::kernels {

WeightRows::WeightRows(const runtime::RtValue& weight) : shape_(weight.shape()) {
  if (weight.compressed) {
    compressed_ = weight.compressed.get();
  } else {
    dense_ = weight.tensor.contiguous();
  }
  rows_ = shape_.empty() ? 1 : shape_[0];
  row_size_ = 1;
  for (size_t i = 1; i < shape_.size(); ++i) row_size_ *= shape_[i];
}

void WeightRows::decode(int64_t begin, int64_t end, float* out) const {
  if (begin < 0 || end > rows_ || begin > end) {
    fail(ErrorCode::kInternal, "weight rows [", begin, ", ", end, ") out of range");
  }
  if (compressed_) {
    compressed_->decode_rows(begin, end, out);
    return;
  }
  const auto* base = static_cast<const std::byte*>(dense_.data()) +
                     static_cast<size_t>(begin * row_size_) * dense_.itemsize();
  tensor_detail::convert_elements(base, dense_.dtype(), out, DType::kFloat32,
                                  static_cast<size_t>((end - begin) * row_size_));
}

}  // namespace coreml::kernels
