// Tensor::to_string and operator<<: a short human-readable summary for debugging.
#include <ostream>
#include <sstream>

#include "coreml/tensor.h"
#include "tensor/convert.h"
#include "tensor/layout.h"

namespace coreml {

std::string Tensor::to_string(int64_t max_values) const {
  std::ostringstream out;
  out << "Tensor(" << dtype_name(dtype_) << ", [";
  for (size_t i = 0; i < shape_.size(); ++i) out << (i ? ", " : "") << shape_[i];
  out << "], " << device_.to_string() << ", [";
  const auto* base = static_cast<const unsigned char*>(data());
  const int64_t size = static_cast<int64_t>(itemsize());
  int64_t shown = 0;
  tensor_detail::for_each_offset(shape_, strides_, [&](int64_t offset) {
    if (shown > max_values) return;
    if (shown == max_values) {
      out << ", ...";
      ++shown;
      return;
    }
    if (shown > 0) out << ", ";
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
    ++shown;
  });
  out << "])";
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) {
  return out << tensor.to_string();
}

}  // namespace coreml
