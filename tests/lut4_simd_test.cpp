// The SIMD LUT4 decoder (one permute per 16 codes on 512-bit CPUs) against a naive reading of
// the packed nibbles, for every length around the vector width and every start alignment.
#include "runtime/compressed/lut4_simd.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "runtime/compressed/packed_lookup.h"

namespace coreml::runtime::compressed {
namespace {

TEST(Lut4Simd, MatchesNaiveNibbleReading) {
  std::mt19937 rng(5);
  std::vector<uint8_t> bytes(200);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  float table[16];
  for (int i = 0; i < 16; ++i) table[i] = static_cast<float>(i * i) - 7.5f;
  for (int64_t offset = 0; offset < 9; ++offset) {
    for (int64_t n = 0; n <= 70; ++n) {
      std::vector<float> simd(static_cast<size_t>(2 * n) + 1, -1.f), scalar = simd, naive = simd;
      lut4_decode_bytes(bytes.data() + offset, n, table, simd.data());
      lut4_decode_bytes_scalar(bytes.data() + offset, n, table, scalar.data());
      for (int64_t j = 0; j < n; ++j) {
        naive[static_cast<size_t>(2 * j)] = table[bytes[static_cast<size_t>(offset + j)] % 16];
        naive[static_cast<size_t>(2 * j + 1)] = table[bytes[static_cast<size_t>(offset + j)] / 16];
      }
      ASSERT_EQ(simd, naive) << "offset " << offset << " bytes "
                             << n;  // incl. no write past the end
      ASSERT_EQ(scalar, naive) << "offset " << offset << " bytes " << n;
    }
  }
}

TEST(Lut4Simd, PackedLookupOddStartsAndLengths) {
  std::mt19937 rng(9);
  std::vector<uint8_t> bytes(64);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  float table[16];
  for (int i = 0; i < 16; ++i) table[i] = 0.25f * static_cast<float>(i) - 1.f;
  for (int64_t first = 0; first < 5; ++first) {
    for (int64_t count = 0; count <= 100; ++count) {
      std::vector<float> fast(static_cast<size_t>(count)), slow(static_cast<size_t>(count));
      packed_lookup(bytes.data(), 4, first, count, table, fast.data());
      packed_lookup_scalar(bytes.data(), 4, first, count, table, slow.data());
      ASSERT_EQ(fast, slow) << "first " << first << " count " << count;
    }
  }
}

}  // namespace
}  // namespace coreml::runtime::compressed
