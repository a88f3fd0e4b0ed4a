// Element types of coreml::Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

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

// IEEE binary16 element. A distinct type (not uint16_t) so typed tensor access can tell fp16
// storage from uint16 storage. Conversions round to nearest even; == compares bits.
struct Half {
  uint16_t bits = 0;

  Half() = default;
  explicit Half(float value);
  static Half from_bits(uint16_t raw) {
    Half h;
    h.bits = raw;
    return h;
  }
  float to_float() const;
  explicit operator float() const { return to_float(); }
  friend bool operator==(Half, Half) = default;
};

// bfloat16 element (the top 16 bits of an IEEE binary32). Same conventions as Half.
struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  explicit BFloat16(float value);
  static BFloat16 from_bits(uint16_t raw) {
    BFloat16 b;
    b.bits = raw;
    return b;
  }
  float to_float() const;
  explicit operator float() const { return to_float(); }
  friend bool operator==(BFloat16, BFloat16) = default;
};

static_assert(sizeof(Half) == 2 && sizeof(BFloat16) == 2);

// The DType whose elements are stored as C++ type T (fp16 -> Half, bool -> bool, ...).
// Only the eleven element types are accepted; anything else fails to compile.
template <typename T>
constexpr DType dtype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, Half>)
    return DType::kFloat16;
  else if constexpr (std::is_same_v<U, BFloat16>)
    return DType::kBFloat16;
  else if constexpr (std::is_same_v<U, float>)
    return DType::kFloat32;
  else if constexpr (std::is_same_v<U, double>)
    return DType::kFloat64;
  else if constexpr (std::is_same_v<U, int8_t>)
    return DType::kInt8;
  else if constexpr (std::is_same_v<U, uint8_t>)
    return DType::kUInt8;
  else if constexpr (std::is_same_v<U, int16_t>)
    return DType::kInt16;
  else if constexpr (std::is_same_v<U, uint16_t>)
    return DType::kUInt16;
  else if constexpr (std::is_same_v<U, int32_t>)
    return DType::kInt32;
  else if constexpr (std::is_same_v<U, int64_t>)
    return DType::kInt64;
  else if constexpr (std::is_same_v<U, bool>)
    return DType::kBool;
  else
    static_assert(sizeof(U) == 0, "not a coreml::Tensor element type");
}

}  // namespace coreml

COREML_PUBLIC_END
