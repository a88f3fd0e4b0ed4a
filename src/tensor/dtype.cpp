// DType names/sizes and the Half/BFloat16 element conversions.
#include "coreml/dtype.h"

#include <array>

#include "tensor/half.h"

namespace coreml {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
  bool floating;
};

constexpr std::array<DTypeInfo, 11> kDTypes = {{
    {DType::kFloat16, "fp16", 2, true},
    {DType::kBFloat16, "bf16", 2, true},
    {DType::kFloat32, "fp32", 4, true},
    {DType::kFloat64, "fp64", 8, true},
    {DType::kInt8, "int8", 1, false},
    {DType::kUInt8, "uint8", 1, false},
    {DType::kInt16, "int16", 2, false},
    {DType::kUInt16, "uint16", 2, false},
    {DType::kInt32, "int32", 4, false},
    {DType::kInt64, "int64", 8, false},
    {DType::kBool, "bool", 1, false},
}};

const DTypeInfo& info(DType dtype) {
  const auto index = static_cast<size_t>(dtype);
  // An out-of-range enum value can only come from a cast; report it as an unknown type
  // rather than reading past the table.
  static constexpr DTypeInfo kUnknown{DType::kFloat32, "<invalid dtype>", 0, false};
  return index < kDTypes.size() ? kDTypes[index] : kUnknown;
}

}  // namespace

size_t dtype_size(DType dtype) { return info(dtype).size; }
std::string_view dtype_name(DType dtype) { return info(dtype).name; }
bool dtype_is_floating(DType dtype) { return info(dtype).floating; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeInfo& entry : kDTypes) {
    if (entry.name == name) return entry.dtype;
  }
  return std::nullopt;
}

Half::Half(float value) : bits(float_to_fp16(value)) {}
float Half::to_float() const { return fp16_to_float(bits); }
BFloat16::BFloat16(float value) : bits(float_to_bf16(value)) {}
float BFloat16::to_float() const { return bf16_to_float(bits); }

}  // namespace coreml
