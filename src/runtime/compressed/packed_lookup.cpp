#include "runtime/compressed/packed_lookup.h"

#include <cstring>

#include "runtime/compressed/lut4_simd.h"

namespace coreml::runtime::compressed {

void packed_lookup_scalar(const uint8_t* packed, int bits, int64_t first, int64_t count,
                          const float* table, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = table[packed_code(packed, bits, first + i)];
}

namespace {

// Each lookup copies its table to the stack first: the compiler then knows stores to `out`
// cannot change it and keeps the loop free of reloads (measured 2x on LUT4).

void lookup8(const uint8_t* packed, int64_t first, int64_t count, const float* shared_table,
             float* out) {
  float table[256];
  std::memcpy(table, shared_table, sizeof(table));
  const uint8_t* p = packed + first;
  for (int64_t i = 0; i < count; ++i) out[i] = table[p[i]];
}

void lookup4(const uint8_t* packed, int64_t first, int64_t count, const float* shared_table,
             float* out) {
  float table[16];
  std::memcpy(table, shared_table, sizeof(table));
  int64_t i = 0;
  if ((first & 1) != 0 && count > 0) {
    out[0] = table[packed[first >> 1] >> 4];
    i = 1;
  }
  const uint8_t* p = packed + ((first + i) >> 1);
  const int64_t whole_bytes = (count - i) / 2;
  lut4_decode_bytes(p, whole_bytes, table, out + i);
  i += 2 * whole_bytes;
  p += whole_bytes;
  if (i < count) out[i] = table[*p & 15u];
}

// 1- and 2-bit codes: 8 / bits codes per byte.
template <int kBits>
void lookup_small(const uint8_t* packed, int64_t first, int64_t count, const float* shared_table,
                  float* out) {
  float table[1 << kBits];
  std::memcpy(table, shared_table, sizeof(table));
  constexpr int kPerByte = 8 / kBits;
  constexpr unsigned kMask = (1u << kBits) - 1u;
  int64_t i = 0;
  for (; i < count && (first + i) % kPerByte != 0; ++i) {
    out[i] = table[packed_code(packed, kBits, first + i)];
  }
  const uint8_t* p = packed + (first + i) / kPerByte;
  for (; i + kPerByte <= count; i += kPerByte) {
    const unsigned b = *p++;
    for (int k = 0; k < kPerByte; ++k) out[i + k] = table[(b >> (k * kBits)) & kMask];
  }
  for (; i < count; ++i) out[i] = table[packed_code(packed, kBits, first + i)];
}

// 3- and 6-bit codes: eight codes fill kBits whole bytes.
template <int kBits>
void lookup_groups_of_8(const uint8_t* packed, int64_t first, int64_t count,
                        const float* shared_table, float* out) {
  float table[1 << kBits];
  std::memcpy(table, shared_table, sizeof(table));
  constexpr uint64_t kMask = (uint64_t{1} << kBits) - 1u;
  int64_t i = 0;
  for (; i < count && (first + i) % 8 != 0; ++i) {
    out[i] = table[packed_code(packed, kBits, first + i)];
  }
  const uint8_t* p = packed + (first + i) / 8 * kBits;
  for (; i + 8 <= count; i += 8, p += kBits) {
    uint64_t word = 0;
    for (int k = 0; k < kBits; ++k) word |= static_cast<uint64_t>(p[k]) << (8 * k);
    for (int k = 0; k < 8; ++k) out[i + k] = table[(word >> (k * kBits)) & kMask];
  }
  for (; i < count; ++i) out[i] = table[packed_code(packed, kBits, first + i)];
}

}  // namespace

void packed_lookup(const uint8_t* packed, int bits, int64_t first, int64_t count,
                   const float* table, float* out) {
  switch (bits) {
    case 8: return lookup8(packed, first, count, table, out);
    case 4: return lookup4(packed, first, count, table, out);
    case 2: return lookup_small<2>(packed, first, count, table, out);
    case 1: return lookup_small<1>(packed, first, count, table, out);
    case 3: return lookup_groups_of_8<3>(packed, first, count, table, out);
    case 6: return lookup_groups_of_8<6>(packed, first, count, table, out);
    default: return packed_lookup_scalar(packed, bits, first, count, table, out);
  }
}

std::vector<float> integer_value_table(int bits, bool is_signed) {
  const int entries = 1 << bits;
  std::vector<float> table(static_cast<size_t>(entries));
  for (int code = 0; code < entries; ++code) {
    const int value = is_signed && code >= entries / 2 ? code - entries : code;
    table[static_cast<size_t>(code)] = static_cast<float>(value);
  }
  return table;
}

}  // namespace coreml::runtime::compressed
