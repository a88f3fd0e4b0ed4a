// Highway implementation of lut4_decode_bytes (compiled once per SIMD target).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/compressed/lut4_simd.cpp"
#include "runtime/compressed/lut4_simd.h"

#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace coreml::runtime::compressed {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void Lut4Decode(const uint8_t* bytes, int64_t nbytes, const float* table, float* out) {
  int64_t j = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  // 16 fp32 lanes hold the whole table: 8 bytes -> 16 codes -> one permute.
  const hn::FixedTag<float, 16> df;
  const hn::FixedTag<int32_t, 16> di;
  const hn::FixedTag<uint8_t, 8> d8;
  const hn::FixedTag<uint16_t, 8> d16;
  const hn::FixedTag<uint8_t, 16> dcodes;
  const auto lut = hn::LoadU(df, table);
  const auto low_mask = hn::Set(d16, 0x000F);
  const auto high_mask = hn::Set(d16, 0x0F00);
  for (; j + 8 <= nbytes; j += 8) {
    const auto b = hn::PromoteTo(d16, hn::LoadU(d8, bytes + j));
    // Little-endian u16 lanes (lo | hi << 8) are the byte pairs [low nibble, high nibble].
    const auto pairs = hn::Or(hn::And(b, low_mask), hn::And(hn::ShiftLeft<4>(b), high_mask));
    const auto codes = hn::PromoteTo(di, hn::BitCast(dcodes, pairs));
    hn::StoreU(hn::TableLookupLanes(lut, hn::IndicesFromVec(df, codes)), df, out + 2 * j);
  }
#endif
  for (; j < nbytes; ++j) {
    out[2 * j] = table[bytes[j] & 15u];
    out[2 * j + 1] = table[bytes[j] >> 4];
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace coreml::runtime::compressed
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cstdlib>
#include <cstring>

#include "kernels/common/simd.h"

namespace coreml::runtime::compressed {

HWY_EXPORT(Lut4Decode);

void lut4_decode_bytes_scalar(const uint8_t* bytes, int64_t nbytes, const float* table,
                              float* out) {
  for (int64_t j = 0; j < nbytes; ++j) {
    out[2 * j] = table[bytes[j] & 15u];
    out[2 * j + 1] = table[bytes[j] >> 4];
  }
}

void lut4_decode_bytes(const uint8_t* bytes, int64_t nbytes, const float* table, float* out) {
  if (kernels::simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(Lut4Decode)(bytes, nbytes, table, out);
  } else {
    lut4_decode_bytes_scalar(bytes, nbytes, table, out);
  }
}

}  // namespace coreml::runtime::compressed
#endif  // HWY_ONCE
