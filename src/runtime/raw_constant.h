// A constant in its stored element type, including types a Tensor cannot hold (uint1..uint6,
// int4, uint32, ...): what constexpr ops (LUT indices, quantized data) read.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "coreml/tensor.h"
#include "format/weight_file.h"
#include "mil/ir.h"

namespace coreml::runtime {

class RawConstant : public std::enable_shared_from_this<RawConstant> {
 public:
  // From an immediate literal (bytes in the IR) or a blob in a weight file.
  static std::shared_ptr<const RawConstant> from_literal(const mil::Value& value);
  static std::shared_ptr<const RawConstant> from_blob(format::BlobView view,
                                                      std::vector<int64_t> shape);

  mil::DataType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t element_count() const { return count_; }
  // Element i as an integer (sub-byte and 8..64-bit integer types; int4 sign-extended).
  int64_t integer_at(int64_t i) const;
  // Unpacks [first, first+count) of a <= 8-bit integer type, one byte per element.
  void unpack(int64_t first, int64_t count, uint8_t* out) const;
  // The bytes as stored (little-endian, sub-byte packed LSB-first).
  const uint8_t* data() const { return data_; }
  int64_t byte_size() const { return bytes_; }
  // As a Tensor, when the element type has a Tensor DType (fp16, fp32, int8, ...). Zero-copy.
  Tensor to_tensor() const;

 private:
  mil::DataType dtype_ = mil::DataType::kFloat32;
  std::vector<int64_t> shape_;
  int64_t count_ = 0;
  const uint8_t* data_ = nullptr;
  int64_t bytes_ = 0;
  std::vector<uint8_t> owned_;           // immediate literal bytes
  std::shared_ptr<const void> keep_alive_;  // the weight file mapping
};

// The Tensor dtype for a MIL element type, if there is one.
std::optional<DType> tensor_dtype(mil::DataType type);

}  // namespace coreml::runtime
