// Tensor::to_string and operator<<: a short human-readable summary for debugging.
#include <algorithm>
#include <ostream>
#include <sstream>

#include "coreml/tensor.h"
#include "tensor/convert.h"

namespace coreml {

std::string Tensor::to_string(int64_t max_values) const {
  std::ostringstream out;
  out << "Tensor(" << dtype_name(dtype_) << ", [";
  for (size_t i = 0; i < shape_.size(); ++i) out << (i ? ", " : "") << shape_[i];
  out << "], " << device_.to_string() << ", [";
  const auto* base = static_cast<const unsigned char*>(data());
  const int64_t size = static_cast<int64_t>(itemsize());
  // Only the first few elements are visited (a summary of a huge tensor stays cheap): the
  // flat C-order index is unravelled into an element offset for each.
  const int64_t shown = std::min(numel_, std::max<int64_t>(max_values, 0));
  for (int64_t flat = 0; flat < shown; ++flat) {
    int64_t offset = 0;
    int64_t rest = flat;
    for (size_t d = shape_.size(); d > 0; --d) {
      offset += (rest % shape_[d - 1]) * strides_[d - 1];
      rest /= shape_[d - 1];
    }
    if (flat > 0) out << ", ";
    const unsigned char* element = base + offset * size;
    if (dtype_ == DType::kBool) {
      out << (*element != 0 ? "true" : "false");
    } else if (dtype_is_floating(dtype_)) {
      double value;
      tensor_detail::convert_elements(element, dtype_, &value, DType::kFloat64, 1);
      out << value;
    } else if (dtype_ == DType::kUInt8 || dtype_ == DType::kUInt16) {
      int32_t value;
      tensor_detail::convert_elements(element, dtype_, &value, DType::kInt32, 1);
      out << value;
    } else {
      int64_t value;
      tensor_detail::convert_elements(element, dtype_, &value, DType::kInt64, 1);
      out << value;
    }
  }
  if (shown < numel_) out << (shown > 0 ? ", ..." : "...");
  out << "])";
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) {
  return out << tensor.to_string();
}

}  // namespace coreml
