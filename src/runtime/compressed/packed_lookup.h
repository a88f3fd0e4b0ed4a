// The hot loop of palettized and quantized weights: read `count` packed n-bit codes
// (LSB-first, starting at element `first`) and write table[code] as fp32.
//
// Integer data (uint4, int8, ...) converts the same way, with a table that maps each code
// to its value. 8-, 4-, 2- and 1-bit codes are read a byte at a time, 3- and 6-bit codes
// eight at a time (3 or 6 bytes); only unaligned heads and tails go element by element.
#pragma once

#include <cstdint>
#include <vector>

namespace coreml::runtime::compressed {

// The caller guarantees `packed` holds at least ceil((first + count) * bits / 8) bytes and
// `table` has 2^bits entries. bits in 1..8.
void packed_lookup(const uint8_t* packed, int bits, int64_t first, int64_t count,
                   const float* table, float* out);

// The element-by-element reference of packed_lookup (for tests and odd cases).
void packed_lookup_scalar(const uint8_t* packed, int bits, int64_t first, int64_t count,
                          const float* table, float* out);

// Code `index` of a packed n-bit stream.
inline uint32_t packed_code(const uint8_t* packed, int bits, int64_t index) {
  const uint64_t bit = static_cast<uint64_t>(index) * static_cast<uint64_t>(bits);
  const uint64_t byte = bit / 8;
  const unsigned shift = static_cast<unsigned>(bit % 8);
  uint32_t word = packed[byte];
  if (shift + static_cast<unsigned>(bits) > 8) word |= static_cast<uint32_t>(packed[byte + 1]) << 8;
  return (word >> shift) & ((1u << bits) - 1u);
}

// The value table of an n-bit integer type: 0..2^n-1, or two's complement when `is_signed`.
std::vector<float> integer_value_table(int bits, bool is_signed);

}  // namespace coreml::runtime::compressed
