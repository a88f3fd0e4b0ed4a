#include "runtime/value.h"

namespace coreml::runtime {

int64_t CompressedWeight::row_size() const {
  int64_t n = 1;
  const auto& s = shape();
  for (size_t i = 1; i < s.size(); ++i) n *= s[i];
  return n;
}

const Tensor& CompressedWeight::dense() const {
  std::call_once(dense_once_, [this] {
    Tensor f32 = Tensor::empty(shape(), DType::kFloat32);
    if (f32.numel() > 0) decode_rows(0, rows(), f32.data<float>());
    dense_ = dtype() == DType::kFloat32 ? f32 : f32.to(dtype());
  });
  return dense_;
}

}  // namespace coreml::runtime
