// SIMD decoding of 4-bit LUT codes (the ANEMLL LUT4 case): two codes per byte, low nibble first.
#pragma once

#include <cstdint>

namespace coreml::runtime::compressed {

// Decodes `nbytes` bytes (2 * nbytes codes) through a 16-entry fp32 table into `out`.
// Uses a one-instruction table lookup on CPUs with 512-bit vectors (run-time dispatch through
// Highway); elsewhere, or with COREML_SIMD=0, a scalar loop. Both give identical results.
void lut4_decode_bytes(const uint8_t* bytes, int64_t nbytes, const float* table, float* out);
void lut4_decode_bytes_scalar(const uint8_t* bytes, int64_t nbytes, const float* table, float* out);

}  // namespace coreml::runtime::compressed
