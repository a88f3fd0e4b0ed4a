// Element types of coreml::Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace coreml {

// The element types a Tensor can hold. Names follow MIL (fp16, int32, ...).
enum class DType : uint8_t {
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
  kInt8,
  kUInt8,
  kInt16,
  kUInt16,
  kInt32,
  kInt64,
  kBool,
};

// Bytes per element (bool is one byte).
size_t dtype_size(DType dtype);
// MIL spelling: "fp16", "bf16", "fp32", "fp64", "int8", "uint8", "int16", "uint16", "int32",
// "int64", "bool".
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);
bool dtype_is_floating(DType dtype);

}  // namespace coreml
