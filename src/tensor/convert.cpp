// Conversions are written per (source, destination) C++ type pair. Each source element is
// first lifted to one of three exact carriers -- double (all floats), int64 (signed
// integers and bool), uint64 (unsigned integers) -- and then narrowed once, so no value
// is rounded twice.
#include "tensor/convert.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "coreml/error.h"
#include "tensor/half.h"

namespace coreml::tensor_detail {
namespace {

// Rounds a double to float with "round to odd": truncate, then set the lowest bit when the
// result was inexact. A later round-to-nearest-even to a format with at least two fewer
// significand bits (fp16: 11, bf16: 8 vs float's 24) then equals a single direct rounding.
float double_to_float_round_odd(double value) {
  if (std::isnan(value)) return static_cast<float>(value);
  float nearest = static_cast<float>(value);
  if (static_cast<double>(nearest) == value) return nearest;
  if (std::isinf(nearest)) {
    // Beyond float range: anything this large still overflows fp16/bf16 to inf.
    return nearest;
  }
  if (std::fabs(static_cast<double>(nearest)) > std::fabs(value)) {
    nearest = std::nextafter(nearest, 0.0f);
  }
  uint32_t bits = float_bits(nearest);
  bits |= 1u;
  return bits_float(bits);
}

// Exact magnitude of an integer rounded to odd at 24 significant bits (a float).
float integer_to_float_round_odd(uint64_t magnitude, bool negative) {
  float result;
  if (magnitude < (uint64_t{1} << 24)) {
    result = static_cast<float>(magnitude);
  } else {
    const int top_bit = 63 - __builtin_clzll(magnitude);
    const int shift = top_bit - 23;
    uint64_t kept = magnitude >> shift;
    if (magnitude & ((uint64_t{1} << shift) - 1)) kept |= 1u;
    result = std::ldexp(static_cast<float>(kept), shift);
  }
  return negative ? -result : result;
}

// ---- lifting a stored element to its carrier ----------------------------------------

template <typename T>
auto lift(T value) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(value.to_float());
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<double>(value);
  } else if constexpr (std::is_same_v<T, bool>) {
    return static_cast<int64_t>(value ? 1 : 0);
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<int64_t>(value);
  } else {
    return static_cast<uint64_t>(value);
  }
}

// ---- narrowing a carrier to the destination type ------------------------------------

template <typename Dst>
Dst float_to_integer(double value) {
  if (std::isnan(value)) return Dst{0};
  const double truncated = std::trunc(value);
  constexpr Dst kMin = std::numeric_limits<Dst>::min();
  constexpr Dst kMax = std::numeric_limits<Dst>::max();
  // kMin is a power of two (or 0) and exact in double; kMax + 1 likewise.
  if (truncated < static_cast<double>(kMin)) return kMin;
  if (truncated >= std::ldexp(1.0, std::numeric_limits<Dst>::digits)) return kMax;
  return static_cast<Dst>(truncated);
}

template <typename Dst, typename Carrier>
Dst narrow_to(Carrier value) {
  if constexpr (std::is_same_v<Dst, bool>) {
    return value != 0;
  } else if constexpr (std::is_floating_point_v<Carrier>) {  // from a float
    if constexpr (std::is_same_v<Dst, Half>) {
      return Half::from_bits(float_to_fp16(double_to_float_round_odd(value)));
    } else if constexpr (std::is_same_v<Dst, BFloat16>) {
      return BFloat16::from_bits(float_to_bf16(double_to_float_round_odd(value)));
    } else if constexpr (std::is_floating_point_v<Dst>) {
      return static_cast<Dst>(value);
    } else {
      return float_to_integer<Dst>(value);
    }
  } else {  // from an integer (int64 or uint64 carrier)
    if constexpr (std::is_same_v<Dst, Half> || std::is_same_v<Dst, BFloat16>) {
      bool negative = false;
      uint64_t magnitude = static_cast<uint64_t>(value);
      if constexpr (std::is_signed_v<Carrier>) {
        negative = value < 0;
        if (negative) magnitude = uint64_t{0} - magnitude;
      }
      const float odd = integer_to_float_round_odd(magnitude, negative);
      if constexpr (std::is_same_v<Dst, Half>) {
        return Half::from_bits(float_to_fp16(odd));
      } else {
        return BFloat16::from_bits(float_to_bf16(odd));
      }
    } else {
      // int -> float/double: the C++ conversion rounds to nearest even; int -> int: the
      // C++20 conversion wraps modulo 2^N.
      return static_cast<Dst>(value);
    }
  }
}

template <typename Src, typename Dst>
void convert_loop(const void* src, void* dst, size_t count) {
  const auto* in = static_cast<const unsigned char*>(src);
  auto* out = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < count; ++i) {
    Src value;
    std::memcpy(&value, in + i * sizeof(Src), sizeof(Src));
    const Dst result = narrow_to<Dst>(lift(value));
    std::memcpy(out + i * sizeof(Dst), &result, sizeof(Dst));
  }
}

// Calls fn(T{}) with T the storage type of `dtype`.
template <typename Fn>
void visit_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat16: return fn(Half{});
    case DType::kBFloat16: return fn(BFloat16{});
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    case DType::kInt8: return fn(int8_t{});
    case DType::kUInt8: return fn(uint8_t{});
    case DType::kInt16: return fn(int16_t{});
    case DType::kUInt16: return fn(uint16_t{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kInt64: return fn(int64_t{});
    case DType::kBool: return fn(bool{});
  }
  fail(ErrorCode::kInternal, "invalid DType value ", static_cast<int>(dtype));
}

}  // namespace

void convert_elements(const void* src, DType from, void* dst, DType to, size_t count) {
  if (count == 0) return;
  if (from == to) {
    std::memcpy(dst, src, count * dtype_size(from));
    return;
  }
  // The common float <-> fp16 pairs get tight loops (bit-exact, same results as the general
  // path, which goes through double).
  if (from == DType::kFloat16 && to == DType::kFloat32) {
    const auto* in = static_cast<const uint16_t*>(src);
    auto* out = static_cast<float*>(dst);
    for (size_t i = 0; i < count; ++i) out[i] = fp16_to_float(in[i]);
    return;
  }
  if (from == DType::kFloat32 && to == DType::kFloat16) {
    const auto* in = static_cast<const float*>(src);
    auto* out = static_cast<uint16_t*>(dst);
    for (size_t i = 0; i < count; ++i) out[i] = float_to_fp16(in[i]);
    return;
  }
  visit_dtype(from, [&](auto src_tag) {
    visit_dtype(to, [&](auto dst_tag) {
      convert_loop<decltype(src_tag), decltype(dst_tag)>(src, dst, count);
    });
  });
}

void store_double(double value, DType to, void* dst) {
  convert_elements(&value, DType::kFloat64, dst, to, 1);
}

}  // namespace coreml::tensor_detail
