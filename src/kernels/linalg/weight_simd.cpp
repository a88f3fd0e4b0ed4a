// Highway implementation of weight_simd.h (compiled once per SIMD target), and the scalar path.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/weight_simd.cpp"
#include "kernels/linalg/weight_simd.h"

// clang-format off
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>
#include "kernels/common/hwy_unrolled.h"
// clang-format on

#include <algorithm>
#include <type_traits>

#include "kernels/common/hwy_f16.h"
#include "runtime/compressed/packed_lookup.h"
#include "tensor/half.h"

#ifndef COREML_WEIGHT_SIMD_SHARED
#define COREML_WEIGHT_SIMD_SHARED
namespace coreml::kernels::linalg::layout {
// Codes per lane word, and bytes per lane word: 1/2/4/8-bit codes fill a 32-bit word per lane
// (so one load feeds 32 / bits shifts, lookups and FMAs), 3- and 6-bit codes three bytes (eight
// or four codes).
constexpr int codes_per_word(int bits) { return bits == 3 ? 8 : bits == 6 ? 4 : 32 / bits; }
constexpr int word_bytes(int bits) { return bits == 3 || bits == 6 ? 3 : 4; }
// A block: 16 lane words.
constexpr int block_elements(int bits) { return 16 * codes_per_word(bits); }
constexpr int block_bytes(int bits) { return 16 * word_bytes(bits); }
}  // namespace coreml::kernels::linalg::layout
#endif

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::CappedTag<float, 16>;  // the k order's virtual vector is 16 lanes
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;

// Lane words for lanes [part * L, part * L + L) of a block.
template <int kBits>
HWY_INLINE hn::Vec<DU> LoadWords(const uint8_t* block, size_t part) {
  const DF d;
  const DU du;
  const size_t lanes = hn::Lanes(d);
  if constexpr (kBits == 3 || kBits == 6) {
    const DI di;
    const VI offsets = hn::Mul(hn::Iota(di, 0), hn::Set(di, 3));
    const auto* base = reinterpret_cast<const int32_t*>(block + part * 3 * lanes);
    return hn::BitCast(du, hn::GatherOffset(di, base, offsets));
  } else {
    // Whole 32-bit words (LSB-first packing on a little-endian CPU: code s of lane j is
    // element j * c + s of the block).
    return hn::LoadU(du, reinterpret_cast<const uint32_t*>(block + part * 4 * lanes));
  }
}

// The row's table in registers (up to four vectors), or nothing for gathered tables.
template <int kBits>
struct RowTable {
  static constexpr int kEntries = 1 << kBits;
  VF v[4];
  const float* memory = nullptr;
  HWY_INLINE void Load(const float* table) {
    const DF d;
    const size_t lanes = hn::Lanes(d);
    memory = table;
    const size_t vectors = (kEntries + lanes - 1) / lanes;
    if (vectors <= 4) {
      for (size_t i = 0; i < vectors; ++i) v[i] = hn::LoadU(d, table + i * lanes);
    }
  }
  HWY_INLINE VF Lookup(VI idx) const {
    const DF d;
    const DI di;
    const size_t lanes = hn::Lanes(d);
#if HWY_TARGET <= HWY_AVX3
    if constexpr (kEntries <= 16) {
      // vpermps reads only the low 4 bits of each index (Code may leave higher bits set).
      if (lanes == 16) return VF{_mm512_permutexvar_ps(idx.raw, v[0].raw)};
    }
    if constexpr (kEntries == 64) {
      if (lanes == 16) {
        // Two 32-entry two-table permutes, and bit 5 picks between them.
        const __m512 lo = _mm512_permutex2var_ps(v[0].raw, idx.raw, v[1].raw);
        const __m512 hi = _mm512_permutex2var_ps(v[2].raw, idx.raw, v[3].raw);
        const __mmask16 high = _mm512_test_epi32_mask(idx.raw, _mm512_set1_epi32(32));
        return VF{_mm512_mask_blend_ps(high, lo, hi)};
      }
    }
#endif
    if (static_cast<size_t>(kEntries) <= lanes) {
      return hn::TableLookupLanes(v[0], hn::IndicesFromVec(d, idx));
    }
    if (static_cast<size_t>(kEntries) <= 4 * lanes) {
      const VI low = hn::And(idx, hn::Set(di, static_cast<int32_t>(lanes - 1)));
      const auto ix = hn::IndicesFromVec(d, low);
      const auto second =
          hn::RebindMask(d, hn::TestBit(idx, hn::Set(di, static_cast<int32_t>(lanes))));
      const VF first_pair =
          hn::IfThenElse(second, hn::TableLookupLanes(v[1], ix), hn::TableLookupLanes(v[0], ix));
      if (static_cast<size_t>(kEntries) <= 2 * lanes) return first_pair;
      const VF second_pair =
          hn::IfThenElse(second, hn::TableLookupLanes(v[3], ix), hn::TableLookupLanes(v[2], ix));
      const auto upper =
          hn::RebindMask(d, hn::TestBit(idx, hn::Set(di, static_cast<int32_t>(2 * lanes))));
      return hn::IfThenElse(upper, second_pair, first_pair);
    }
    return hn::GatherIndex(d, memory, idx);
  }
};

template <int kBits>
HWY_INLINE VI Code(hn::Vec<DU> words, int s) {
  const DU du;
  const DI di;
#if HWY_TARGET <= HWY_AVX3
  // RowTable::Lookup's single vpermps reads only the low 4 bits of each index.
  if constexpr (kBits == 4) {
    if (hn::Lanes(du) == 16) return hn::BitCast(di, hn::ShiftRightSame(words, s * kBits));
  }
#endif
  const auto shifted = s == 0 ? words : hn::ShiftRightSame(words, s * kBits);
  if (s * kBits + kBits == 32) return hn::BitCast(di, shifted);  // the top code needs no mask
  return hn::BitCast(di, hn::And(shifted, hn::Set(du, (1u << kBits) - 1u)));
}

// Element `e` (natural order inside a block) sits at this position of the k order.
constexpr int64_t KOrderPosition(int bits, int64_t e) {
  const int c = layout::codes_per_word(bits);
  return (e % c) * 16 + e / c;
}

// How many leading blocks of a row the SIMD loop may read: 3- and 6-bit lane words read one
// byte past their block, which must still be readable; later blocks go element by element.
template <int kBits>
HWY_INLINE int64_t SafeBlocks(const LutRows& w, const uint8_t* row, int64_t blocks) {
  if constexpr (kBits == 3 || kBits == 6) {
    // The last lane word reads one byte past its block.
    const int64_t available = (w.codes + w.readable_bytes) - row;
    int64_t safe = blocks;
    while (safe > 0 && safe * layout::block_bytes(kBits) + 1 > available) --safe;
    return safe;
  } else {
    return blocks;
  }
}

// Streaming rows from DRAM, the hardware prefetcher stops at every 4 KiB page; asking for the
// rows a few rows ahead keeps the loads in flight while this row is computed.
HWY_INLINE void PrefetchAhead(const LutRows& w, int64_t r, int64_t end) {
  constexpr int64_t kAheadBytes = 8192;
  const int64_t ahead = std::max<int64_t>(1, kAheadBytes / std::max<int64_t>(1, w.row_bytes));
  if (r + ahead >= end) return;
  const uint8_t* p = w.codes + (r + ahead) * w.row_bytes;
  for (int64_t offset = 0; offset < w.row_bytes; offset += 64) __builtin_prefetch(p + offset);
}

// ---- 6- and 8-bit rows with AVX-512 VBMI: 64 codes per vector, fp16 tables split in bytes ----
// Codes of a block of 64 are looked up with byte permutes (one for 64-entry tables, two and a
// blend for 256), the low and high bytes interleaved into fp16, widened and multiplied. The
// interleave fixes the k order of a block: position p holds element
// 16 * ((p / 16 % 2) * 2 + p % 16 / 8) + (p / 32) * 8 + p % 8.
#undef COREML_LUT_BYTE_PATH  // this file is compiled once per target
#if HWY_TARGET == HWY_AVX3_DL
#define COREML_LUT_BYTE_PATH 1
HWY_INLINE bool UseBytePath(const LutRows& w) {
  return w.half_tables != nullptr && (w.bits == 6 || w.bits == 8);
}

// The 64 codes of block `b` of a row, one per byte.
template <int kBits>
HWY_INLINE __m512i BlockCodes(const uint8_t* row, int64_t b) {
  if constexpr (kBits == 8) {
    return _mm512_loadu_si512(row + b * 64);
  } else {
    // 48 bytes (masked: never past the block); qword q gets bytes 6q..6q+5, then each of its
    // bytes j takes the 8 bits from bit 6j on; the low 6 are code 8q + j.
    const __m512i bytes = _mm512_maskz_loadu_epi8(0x0000FFFFFFFFFFFFull, row + b * 48);
    alignas(64) static constexpr uint8_t kGather[64] = {
        0,  1,  2,  3,  4,  5,  5,  5,  6,  7,  8,  9,  10, 11, 11, 11, 12, 13, 14, 15, 16, 17,
        17, 17, 18, 19, 20, 21, 22, 23, 23, 23, 24, 25, 26, 27, 28, 29, 29, 29, 30, 31, 32, 33,
        34, 35, 35, 35, 36, 37, 38, 39, 40, 41, 41, 41, 42, 43, 44, 45, 46, 47, 47, 47};
    const __m512i grouped = _mm512_permutexvar_epi8(_mm512_load_si512(kGather), bytes);
    const __m512i shifts = _mm512_set1_epi64(0x2A241E18120C0600ll);  // 0, 6, ..., 42
    return _mm512_and_si512(_mm512_multishift_epi64_epi8(shifts, grouped), _mm512_set1_epi8(0x3F));
  }
}

template <int kBits>
struct ByteTables {
  __m512i lo[kBits == 8 ? 4 : 1], hi[kBits == 8 ? 4 : 1];
  HWY_INLINE void Load(const uint8_t* t) {
    constexpr int n = kBits == 8 ? 4 : 1;
    constexpr int entries = 1 << kBits;
    for (int i = 0; i < n; ++i) {
      lo[i] = _mm512_loadu_si512(t + 64 * i);
      hi[i] = _mm512_loadu_si512(t + entries + 64 * i);
    }
  }
  // fp16 values of 64 codes as two vectors of 32 (the unpack order).
  HWY_INLINE void Lookup(__m512i codes, __m512i* a, __m512i* b) const {
    __m512i l, h;
    if constexpr (kBits == 8) {
      const __mmask64 high = _mm512_movepi8_mask(codes);
      l = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(lo[0], codes, lo[1]),
                                 _mm512_permutex2var_epi8(lo[2], codes, lo[3]));
      h = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(hi[0], codes, hi[1]),
                                 _mm512_permutex2var_epi8(hi[2], codes, hi[3]));
    } else {
      l = _mm512_permutexvar_epi8(codes, lo[0]);
      h = _mm512_permutexvar_epi8(codes, hi[0]);
    }
    *a = _mm512_unpacklo_epi8(l, h);
    *b = _mm512_unpackhi_epi8(l, h);
  }
};

HWY_INLINE __m512 Widen(__m512i halves, int upper) {
  return _mm512_cvtph_ps(upper ? _mm512_extracti64x4_epi64(halves, 1)
                               : _mm512_castsi512_si256(halves));
}

template <int kBits>
void GemvBytePath(const LutRows& w, int64_t r0, int64_t r1, const float* xa, float* out,
                  int64_t out_stride) {
  const int64_t blocks = w.k / 64;
  const int64_t entries = int64_t{1} << kBits;
  ByteTables<kBits> tables;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t table = r / w.rows_per_table;
    tables.Load(w.half_tables + table * 2 * entries);
    const uint8_t* row = w.codes + r * w.row_bytes;
    PrefetchAhead(w, r, r1);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
           acc3 = _mm512_setzero_ps();
    for (int64_t b = 0; b < blocks; ++b) {
      __m512i a, c;
      tables.Lookup(BlockCodes<kBits>(row, b), &a, &c);
      const float* x = xa + b * 64;
      acc0 = _mm512_fmadd_ps(Widen(a, 0), _mm512_loadu_ps(x), acc0);
      acc1 = _mm512_fmadd_ps(Widen(a, 1), _mm512_loadu_ps(x + 16), acc1);
      acc2 = _mm512_fmadd_ps(Widen(c, 0), _mm512_loadu_ps(x + 32), acc2);
      acc3 = _mm512_fmadd_ps(Widen(c, 1), _mm512_loadu_ps(x + 48), acc3);
    }
    float sum =
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
    const float* t = w.tables + table * w.table_stride;
    for (int64_t e = blocks * 64; e < w.k; ++e) {
      sum += t[runtime::compressed::packed_code(row, kBits, e)] * xa[e];
    }
    out[(r - r0) * out_stride] = sum;
  }
}

template <int kBits>
void DecodeBytePath(const LutRows& w, int64_t r0, int64_t r1, float* out) {
  const int64_t blocks = w.k / 64;
  const int64_t entries = int64_t{1} << kBits;
  ByteTables<kBits> tables;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t table = r / w.rows_per_table;
    tables.Load(w.half_tables + table * 2 * entries);
    const uint8_t* row = w.codes + r * w.row_bytes;
    float* o = out + (r - r0) * w.k;
    for (int64_t b = 0; b < blocks; ++b) {
      __m512i a, c;
      tables.Lookup(BlockCodes<kBits>(row, b), &a, &c);
      _mm512_storeu_ps(o + b * 64, Widen(a, 0));
      _mm512_storeu_ps(o + b * 64 + 16, Widen(a, 1));
      _mm512_storeu_ps(o + b * 64 + 32, Widen(c, 0));
      _mm512_storeu_ps(o + b * 64 + 48, Widen(c, 1));
    }
    const float* t = w.tables + table * w.table_stride;
    for (int64_t e = blocks * 64; e < w.k; ++e)
      o[e] = t[runtime::compressed::packed_code(row, kBits, e)];
  }
}
#else
#define COREML_LUT_BYTE_PATH 0
HWY_INLINE bool UseBytePath(const LutRows&) { return false; }
#endif

// The element at position p of a byte-path block of 64 (see above).
constexpr int64_t BytePathElement(int64_t p) {
  return 16 * ((p / 16 % 2) * 2 + p % 16 / 8) + (p / 32) * 8 + p % 8;
}

void LutArrange(const LutRows& w, const float* x, float* out) {
  const int64_t k = w.k;
  if (UseBytePath(w)) {
    const int64_t blocks = k / 64;
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t p = 0; p < 64; ++p) out[b * 64 + p] = x[b * 64 + BytePathElement(p)];
    }
    for (int64_t e = blocks * 64; e < k; ++e) out[e] = x[e];
    return;
  }
  const int c = layout::codes_per_word(w.bits);
  const int64_t block = layout::block_elements(w.bits);
  const int64_t blocks = k / block;
  for (int64_t b = 0; b < blocks; ++b) {
    for (int j = 0; j < 16; ++j) {
      for (int s = 0; s < c; ++s) out[b * block + s * 16 + j] = x[b * block + j * c + s];
    }
  }
  for (int64_t e = blocks * block; e < k; ++e) out[e] = x[e];
}

template <int kBits>
void GemvRows(const LutRows& w, int64_t r0, int64_t r1, const float* xa, float* out,
              int64_t out_stride) {
  constexpr int c = layout::codes_per_word(kBits);
  constexpr int64_t kBlock = layout::block_elements(kBits);
  constexpr int64_t kBlockBytes = layout::block_bytes(kBits);
  // Blocks per iteration, so that four independent accumulators hide the FMA latency.
  constexpr int kUnroll = c >= 4 ? 1 : 4 / c;
  const DF d;
  const size_t lanes = hn::Lanes(d);
  const size_t parts = 16 / lanes;
  const int64_t blocks = w.k / kBlock;
  RowTable<kBits> table;
  int64_t r = r0;
  if constexpr (c >= 4 && kBits != 3 && kBits != 6) {
    // Two rows at a time while they share a table: one x load feeds both, and the per-row
    // reduction overlaps the other row's work (measured ~15 % faster at K = 1024).
    for (; r + 2 <= r1 && r / w.rows_per_table == (r + 1) / w.rows_per_table &&
           w.k == blocks * kBlock;
         r += 2) {
      table.Load(w.tables + (r / w.rows_per_table) * w.table_stride);
      const uint8_t* row_a = w.codes + r * w.row_bytes;
      const uint8_t* row_b = row_a + w.row_bytes;
      PrefetchAhead(w, r, r1);
      PrefetchAhead(w, r + 1, r1);
      VF a0 = hn::Zero(d), a1 = hn::Zero(d), b0 = hn::Zero(d), b1 = hn::Zero(d);
      for (int64_t b = 0; b < blocks; ++b) {
        const float* xb = xa + b * kBlock;
        for (size_t p = 0; p < parts; ++p) {
          const auto words_a = LoadWords<kBits>(row_a + b * kBlockBytes, p);
          const auto words_b = LoadWords<kBits>(row_b + b * kBlockBytes, p);
          for (int s = 0; s < c; s += 2) {
            const VF x0 = hn::LoadU(d, xb + s * 16 + p * lanes);
            const VF x1 = hn::LoadU(d, xb + (s + 1) * 16 + p * lanes);
            a0 = hn::MulAdd(table.Lookup(Code<kBits>(words_a, s)), x0, a0);
            b0 = hn::MulAdd(table.Lookup(Code<kBits>(words_b, s)), x0, b0);
            a1 = hn::MulAdd(table.Lookup(Code<kBits>(words_a, s + 1)), x1, a1);
            b1 = hn::MulAdd(table.Lookup(Code<kBits>(words_b, s + 1)), x1, b1);
          }
        }
      }
      out[(r - r0) * out_stride] = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
      out[(r + 1 - r0) * out_stride] = hn::GetLane(hn::SumOfLanes(d, hn::Add(b0, b1)));
    }
  }
  for (; r < r1; ++r) {
    const float* t = w.tables + (r / w.rows_per_table) * w.table_stride;
    table.Load(t);
    const uint8_t* row = w.codes + r * w.row_bytes;
    PrefetchAhead(w, r, r1);
    const int64_t safe = SafeBlocks<kBits>(w, row, blocks);
    VF acc[4] = {hn::Zero(d), hn::Zero(d), hn::Zero(d), hn::Zero(d)};
    int64_t b = 0;
    for (; b + kUnroll <= safe; b += kUnroll) {
      for (int u = 0; u < kUnroll; ++u) {
        const uint8_t* block = row + (b + u) * kBlockBytes;
        const float* xb = xa + (b + u) * kBlock;
        for (size_t p = 0; p < parts; ++p) {
          const auto words = LoadWords<kBits>(block, p);
          for (int s = 0; s < c; ++s) {
            const VF wv = table.Lookup(Code<kBits>(words, s));
            const VF xv = hn::LoadU(d, xb + s * 16 + p * lanes);
            acc[(u * c + s) & 3] = hn::MulAdd(wv, xv, acc[(u * c + s) & 3]);
          }
        }
      }
    }
    for (; b < safe; ++b) {  // leftover whole blocks
      const uint8_t* block = row + b * kBlockBytes;
      const float* xb = xa + b * kBlock;
      for (size_t p = 0; p < parts; ++p) {
        const auto words = LoadWords<kBits>(block, p);
        for (int s = 0; s < c; ++s) {
          const VF wv = table.Lookup(Code<kBits>(words, s));
          acc[s & 3] = hn::MulAdd(wv, hn::LoadU(d, xb + s * 16 + p * lanes), acc[s & 3]);
        }
      }
    }
    float sum =
        hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(acc[0], acc[1]), hn::Add(acc[2], acc[3]))));
    for (int64_t e = safe * kBlock; e < blocks * kBlock; ++e) {
      const int64_t bb = e / kBlock;
      const uint32_t code = runtime::compressed::packed_code(row, kBits, e);
      sum += t[code] * xa[bb * kBlock + KOrderPosition(kBits, e - bb * kBlock)];
    }
    for (int64_t e = blocks * kBlock; e < w.k; ++e) {
      sum += t[runtime::compressed::packed_code(row, kBits, e)] * xa[e];
    }
    out[(r - r0) * out_stride] = sum;
  }
}

template <int kBits>
void DecodeRows(const LutRows& w, int64_t r0, int64_t r1, float* out) {
  constexpr int c = layout::codes_per_word(kBits);
  constexpr int64_t kBlock = layout::block_elements(kBits);
  constexpr int64_t kBlockBytes = layout::block_bytes(kBits);
  const DF d;
  const size_t lanes = hn::Lanes(d);
  const size_t parts = 16 / lanes;
  const int64_t blocks = w.k / kBlock;
  RowTable<kBits> table;
  for (int64_t r = r0; r < r1; ++r) {
    const float* t = w.tables + (r / w.rows_per_table) * w.table_stride;
    table.Load(t);
    const uint8_t* row = w.codes + r * w.row_bytes;
    float* o = out + (r - r0) * w.k;
    const int64_t safe = SafeBlocks<kBits>(w, row, blocks);
    for (int64_t b = 0; b < safe; ++b) {
      const uint8_t* block = row + b * kBlockBytes;
      for (size_t p = 0; p < parts; ++p) {
        const auto words = LoadWords<kBits>(block, p);
        for (int s = 0; s < c; ++s) {
          hn::StoreU(table.Lookup(Code<kBits>(words, s)), d, o + b * kBlock + s * 16 + p * lanes);
        }
      }
    }
    for (int64_t e = safe * kBlock; e < blocks * kBlock; ++e) {
      const int64_t b = e / kBlock;
      o[b * kBlock + KOrderPosition(kBits, e - b * kBlock)] =
          t[runtime::compressed::packed_code(row, kBits, e)];
    }
    for (int64_t e = blocks * kBlock; e < w.k; ++e) {
      o[e] = t[runtime::compressed::packed_code(row, kBits, e)];
    }
  }
}

void LutGemv(const LutRows& w, int64_t r0, int64_t r1, const float* xa, float* out,
             int64_t out_stride) {
#if COREML_LUT_BYTE_PATH
  if (UseBytePath(w)) {
    return w.bits == 8 ? GemvBytePath<8>(w, r0, r1, xa, out, out_stride)
                       : GemvBytePath<6>(w, r0, r1, xa, out, out_stride);
  }
#endif
  switch (w.bits) {
    case 1: return GemvRows<1>(w, r0, r1, xa, out, out_stride);
    case 2: return GemvRows<2>(w, r0, r1, xa, out, out_stride);
    case 3: return GemvRows<3>(w, r0, r1, xa, out, out_stride);
    case 4: return GemvRows<4>(w, r0, r1, xa, out, out_stride);
    case 6: return GemvRows<6>(w, r0, r1, xa, out, out_stride);
    default: return GemvRows<8>(w, r0, r1, xa, out, out_stride);
  }
}

void LutDecode(const LutRows& w, int64_t r0, int64_t r1, float* out) {
#if COREML_LUT_BYTE_PATH
  if (UseBytePath(w)) {
    return w.bits == 8 ? DecodeBytePath<8>(w, r0, r1, out) : DecodeBytePath<6>(w, r0, r1, out);
  }
#endif
  switch (w.bits) {
    case 1: return DecodeRows<1>(w, r0, r1, out);
    case 2: return DecodeRows<2>(w, r0, r1, out);
    case 3: return DecodeRows<3>(w, r0, r1, out);
    case 4: return DecodeRows<4>(w, r0, r1, out);
    case 6: return DecodeRows<6>(w, r0, r1, out);
    default: return DecodeRows<8>(w, r0, r1, out);
  }
}

// fp16 rows are streamed with few instructions per byte; without asking for the bytes 8 KiB
// ahead, the loop waits on DRAM (measured: ~75 % of a plain read's bandwidth, ~90 % with it).
[[maybe_unused]] constexpr int64_t kF16AheadBytes = 8192;  // not every SIMD target reads it
void F16Gemv(const uint16_t* w, int64_t row_stride, int64_t k, int64_t r0, int64_t r1,
             const float* x, float* out, int64_t out_stride) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r = r0; r < r1; ++r) {
    const auto* row = reinterpret_cast<const hwy::float16_t*>(w + r * row_stride);
    auto acc0 = hn::Zero(d), acc1 = hn::Zero(d), acc2 = hn::Zero(d), acc3 = hn::Zero(d);
    int64_t t = 0;
#if COREML_HWY_NATIVE_F16
    for (; t + 4 * lanes <= k; t += 4 * lanes) {
      __builtin_prefetch(reinterpret_cast<const char*>(row + t) + kF16AheadBytes);
      __builtin_prefetch(reinterpret_cast<const char*>(row + t) + kF16AheadBytes + 64);
      acc0 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, row + t)), hn::LoadU(d, x + t), acc0);
      acc1 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, row + t + lanes)),
                        hn::LoadU(d, x + t + lanes), acc1);
      acc2 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, row + t + 2 * lanes)),
                        hn::LoadU(d, x + t + 2 * lanes), acc2);
      acc3 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, row + t + 3 * lanes)),
                        hn::LoadU(d, x + t + 3 * lanes), acc3);
    }
    for (; t + lanes <= k; t += lanes) {
      acc0 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, row + t)), hn::LoadU(d, x + t), acc0);
    }
#else
    (void)row;
    (void)dh;
    (void)lanes;
#endif
    float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(acc0, acc1), hn::Add(acc2, acc3))));
    const uint16_t* bits = w + r * row_stride;
    for (; t < k; ++t) sum += fp16_to_float(bits[t]) * x[t];
    out[(r - r0) * out_stride] = sum;
  }
}

void F32Gemv(const float* w, int64_t row_stride, int64_t k, int64_t r0, int64_t r1, const float* x,
             float* out, int64_t out_stride) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = w + r * row_stride;
    auto acc0 = hn::Zero(d), acc1 = hn::Zero(d), acc2 = hn::Zero(d), acc3 = hn::Zero(d);
    int64_t t = 0;
    for (; t + 4 * lanes <= k; t += 4 * lanes) {
      acc0 = hn::MulAdd(hn::LoadU(d, row + t), hn::LoadU(d, x + t), acc0);
      acc1 = hn::MulAdd(hn::LoadU(d, row + t + lanes), hn::LoadU(d, x + t + lanes), acc1);
      acc2 = hn::MulAdd(hn::LoadU(d, row + t + 2 * lanes), hn::LoadU(d, x + t + 2 * lanes), acc2);
      acc3 = hn::MulAdd(hn::LoadU(d, row + t + 3 * lanes), hn::LoadU(d, x + t + 3 * lanes), acc3);
    }
    for (; t + lanes <= k; t += lanes)
      acc0 = hn::MulAdd(hn::LoadU(d, row + t), hn::LoadU(d, x + t), acc0);
    float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(acc0, acc1), hn::Add(acc2, acc3))));
    for (; t < k; ++t) sum += row[t] * x[t];
    out[(r - r0) * out_stride] = sum;
  }
}

// acc[i] += sum_j p[j] * rows[j][i], j ascending for every i (the order of one axpy per row).
// Up to four vectors of acc stay in registers while all rows stream past.
template <typename T>
void AxpyRowsImpl(const float* p, const T* rows, int64_t row_stride, int64_t count, float* acc,
                  int64_t n) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto load = [&](const T* at) {
    if constexpr (std::is_same_v<T, float>) {
      return hn::LoadU(d, at);
    } else {
      const hn::Rebind<hwy::float16_t, decltype(d)> dh;
      return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(at)));
    }
  };
  int64_t i = 0;
  constexpr bool kVectors = std::is_same_v<T, float> || COREML_HWY_NATIVE_F16;
  if constexpr (kVectors) {
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
      auto a0 = hn::LoadU(d, acc + i), a1 = hn::LoadU(d, acc + i + lanes),
           a2 = hn::LoadU(d, acc + i + 2 * lanes), a3 = hn::LoadU(d, acc + i + 3 * lanes);
      for (int64_t j = 0; j < count; ++j) {
        const auto pj = hn::Set(d, p[j]);
        const T* row = rows + j * row_stride + i;
        a0 = hn::MulAdd(pj, load(row), a0);
        a1 = hn::MulAdd(pj, load(row + lanes), a1);
        a2 = hn::MulAdd(pj, load(row + 2 * lanes), a2);
        a3 = hn::MulAdd(pj, load(row + 3 * lanes), a3);
      }
      hn::StoreU(a0, d, acc + i);
      hn::StoreU(a1, d, acc + i + lanes);
      hn::StoreU(a2, d, acc + i + 2 * lanes);
      hn::StoreU(a3, d, acc + i + 3 * lanes);
    }
    for (; i + lanes <= n; i += lanes) {
      auto a0 = hn::LoadU(d, acc + i);
      for (int64_t j = 0; j < count; ++j)
        a0 = hn::MulAdd(hn::Set(d, p[j]), load(rows + j * row_stride + i), a0);
      hn::StoreU(a0, d, acc + i);
    }
  }
  for (; i < n; ++i) {
    float a = acc[i];
    for (int64_t j = 0; j < count; ++j) {
      const T v = rows[j * row_stride + i];
      if constexpr (std::is_same_v<T, float>) {
        a += p[j] * v;
      } else {
        a += p[j] * fp16_to_float(v);
      }
    }
    acc[i] = a;
  }
}

void F16AxpyRows(const float* p, const uint16_t* rows, int64_t row_stride, int64_t count,
                 float* acc, int64_t n) {
  AxpyRowsImpl(p, rows, row_stride, count, acc, n);
}

void F32AxpyRows(const float* p, const float* rows, int64_t row_stride, int64_t count, float* acc,
                 int64_t n) {
  AxpyRowsImpl(p, rows, row_stride, count, acc, n);
}

// Register tiles: R weight rows (broadcast) x V vectors of tokens. AVX2's 16 registers hold 6 x 2
// sums, the two token vectors and the broadcast: 8 loads per 12 FMAs, and a pass of 64 tokens
// (8 vectors) is 4 whole tiles. Its former 3 x 3 tile split a pass 3 + 3 + 2, and the 2-vector
// tile (6 loads per 6 FMAs) took a quarter of the work at two thirds of the speed.
constexpr int kTileRows = 6;
#if HWY_TARGET <= HWY_AVX3 || HWY_ARCH_ARM
constexpr int kTileVectors = 4;
#else
constexpr int kTileVectors = 2;
#endif

// The activation row of K position t: `xt` + t * stride (packed), or `x` + offsets[t] (tokens
// read where they lie, gemm_rows_at).
struct StridedRows {
  const float* xt;
  int64_t stride;
  HWY_INLINE const float* operator()(int64_t t) const { return xt + t * stride; }
};
struct OffsetRows {
  const float* x;
  const int64_t* offsets;
  HWY_INLINE const float* operator()(int64_t t) const { return x + offsets[t]; }
};

// R weight rows x V vectors of tokens. Not inlined: inside GemmTiles, next to its other
// instances, GCC 12 kept one of the four token vectors on the stack, storing it and reading it
// back six times per K step; on its own it holds all 24 accumulators, the token vectors and the
// broadcast in registers (10 to 20% faster tiles on an EPYC, a call per 6 x 64 x K products).
// Unrolled (hwy_unrolled.h) keeps the accumulators out of memory before and after the K loop: 1x1
// convs of K = 16 ran 15-20 % faster, of K = 64 7 %.
template <int R, int V, class Rows>
HWY_NOINLINE void Tile(const float* w, int64_t k, Rows x_row, int64_t column, float* c,
                       int64_t cs) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  using V_t = decltype(hn::Zero(d));
  V_t acc[R * V];
  kernels::HWY_NAMESPACE::Unrolled<R * V>([&](auto i) { acc[i] = hn::Zero(d); });
  const float* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = w + r * k;
  for (int64_t t = 0; t < k; ++t) {
    const float* xr = x_row(t) + column;
    V_t xv[V];
    kernels::HWY_NAMESPACE::Unrolled<V>([&](auto v) { xv[v] = hn::LoadU(d, xr + v * lanes); });
    kernels::HWY_NAMESPACE::Unrolled<R>([&](auto r) {
      const V_t wv = hn::Set(d, wr[r][t]);
      kernels::HWY_NAMESPACE::Unrolled<V>(
          [&](auto v) { acc[r * V + v] = hn::MulAdd(wv, xv[v], acc[r * V + v]); });
    });
  }
  kernels::HWY_NAMESPACE::Unrolled<R>([&](auto r) {
    kernels::HWY_NAMESPACE::Unrolled<V>(
        [&](auto v) { hn::StoreU(acc[r * V + v], d, c + r * cs + v * lanes); });
  });
}

// A tile of R rows and `vectors` (1 to kTileVectors) vectors.
template <int R, class Rows>
HWY_INLINE void TileOfWidth(int64_t vectors, const float* w, int64_t k, Rows x_row, int64_t column,
                            float* c, int64_t cs) {
  switch (vectors) {
    case 1: Tile<R, 1>(w, k, x_row, column, c, cs); break;
    case 2: Tile<R, 2>(w, k, x_row, column, c, cs); break;
    case 3:
      if constexpr (kTileVectors >= 3) Tile<R, 3>(w, k, x_row, column, c, cs);
      break;
    default:
      if constexpr (kTileVectors >= 4) Tile<R, kTileVectors>(w, k, x_row, column, c, cs);
      break;
  }
}

// Whole tiles of kTileRows rows, then the last rows (fewer) as a tile of their own height: with
// the height fixed, 32 outputs (a UNet's first level) would cost 36 rows of products, 16
// (MobileNet's) 18.
template <class Rows>
HWY_INLINE void GemmTiles(const float* w, int64_t rows, int64_t k, Rows x_row, int64_t m_count,
                          float* c, int64_t cs) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t vectors = (m_count + lanes - 1) / lanes;
  for (int64_t v0 = 0; v0 < vectors; v0 += kTileVectors) {
    const int64_t vv = std::min<int64_t>(kTileVectors, vectors - v0);
    const int64_t column = v0 * lanes;
    for (int64_t r0 = 0, height = 0; r0 < rows; r0 += height) {
      // 7 or 8 rows left go as 4 + 3 or 4 + 4: a 1- or 2-row tile of AVX2's 2 vectors keeps only
      // 2 or 4 sums in flight, fewer than the FMA latency needs, and ran at about half the
      // 6-row tile's rate (7.5 % of a 32-output conv's time for 6 % of its products).
      const int64_t left = rows - r0;
      height =
          left == kTileRows + 1 || left == kTileRows + 2 ? 4 : std::min<int64_t>(kTileRows, left);
      const float* wp = w + r0 * k;
      float* cp = c + r0 * cs + v0 * lanes;
      switch (height) {
        case 1: TileOfWidth<1>(vv, wp, k, x_row, column, cp, cs); break;
        case 2: TileOfWidth<2>(vv, wp, k, x_row, column, cp, cs); break;
        case 3: TileOfWidth<3>(vv, wp, k, x_row, column, cp, cs); break;
        case 4: TileOfWidth<4>(vv, wp, k, x_row, column, cp, cs); break;
        case 5: TileOfWidth<5>(vv, wp, k, x_row, column, cp, cs); break;
        default: TileOfWidth<kTileRows>(vv, wp, k, x_row, column, cp, cs); break;
      }
    }
  }
}

void GemmRows(const float* w, int64_t rows, int64_t k, const float* xt, int64_t xs, int64_t m_count,
              float* c, int64_t cs) {
  GemmTiles(w, rows, k, StridedRows{xt, xs}, m_count, c, cs);
}

void GemmRowsAt(const float* w, int64_t rows, int64_t k, const float* x, const int64_t* offsets,
                int64_t m_count, float* c, int64_t cs) {
  GemmTiles(w, rows, k, OffsetRows{x, offsets}, m_count, c, cs);
}

}  // namespace HWY_NAMESPACE
}  // namespace coreml::kernels::linalg
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/common/simd.h"

namespace coreml::kernels::linalg {

HWY_EXPORT(LutGemv);
HWY_EXPORT(LutArrange);
HWY_EXPORT(LutDecode);
HWY_EXPORT(F16Gemv);
HWY_EXPORT(F32Gemv);
HWY_EXPORT(GemmRows);
HWY_EXPORT(GemmRowsAt);
HWY_EXPORT(F16AxpyRows);
HWY_EXPORT(F32AxpyRows);

void f16_axpy_rows(const float* p, const uint16_t* rows, int64_t row_stride, int64_t count,
                   float* acc, int64_t n) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(F16AxpyRows)(p, rows, row_stride, count, acc, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < count; ++j) acc[i] += p[j] * fp16_to_float(rows[j * row_stride + i]);
  }
}

void f32_axpy_rows(const float* p, const float* rows, int64_t row_stride, int64_t count, float* acc,
                   int64_t n) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(F32AxpyRows)(p, rows, row_stride, count, acc, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < count; ++j) acc[i] += p[j] * rows[j * row_stride + i];
  }
}

int64_t lut_block(int bits) { return bits == 8 ? 64 : layout::block_elements(bits); }

std::vector<uint8_t> lut_half_tables(const float* tables, int64_t count, int64_t stride, int bits) {
  const int64_t entries = int64_t{1} << bits;
  std::vector<uint8_t> out(static_cast<size_t>(count * 2 * entries));
  for (int64_t t = 0; t < count; ++t) {
    for (int64_t e = 0; e < entries; ++e) {
      const float v = tables[t * stride + e];
      const uint16_t h = float_to_fp16(v);
      if (fp16_to_float(h) != v && !(v != v)) return {};  // not exact in fp16
      out[static_cast<size_t>(t * 2 * entries + e)] = static_cast<uint8_t>(h & 0xFF);
      out[static_cast<size_t>(t * 2 * entries + entries + e)] = static_cast<uint8_t>(h >> 8);
    }
  }
  return out;
}

void lut_arrange(const LutRows& w, const float* x, float* out) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(LutArrange)(w, x, out);
    return;
  }
  // The scalar loops read the generic k order.
  LutRows generic = w;
  generic.half_tables = nullptr;
  HWY_DYNAMIC_DISPATCH(LutArrange)(generic, x, out);
}

namespace {
int64_t k_order_position(int bits, int64_t e) {
  const int c = layout::codes_per_word(bits);
  return (e % c) * 16 + e / c;
}
}  // namespace

void lut_gemv_scalar(const LutRows& w, int64_t r0, int64_t r1, const float* xa, float* out,
                     int64_t out_stride) {
  const int64_t block = layout::block_elements(w.bits);
  const int64_t whole = w.k / block * block;
  for (int64_t r = r0; r < r1; ++r) {
    const float* t = w.tables + (r / w.rows_per_table) * w.table_stride;
    const uint8_t* row = w.codes + r * w.row_bytes;
    float sum = 0;
    for (int64_t e = 0; e < w.k; ++e) {
      const int64_t pos = e < whole ? (e / block) * block + k_order_position(w.bits, e % block) : e;
      sum += t[runtime::compressed::packed_code(row, w.bits, e)] * xa[pos];
    }
    out[(r - r0) * out_stride] = sum;
  }
}

void lut_decode_scalar(const LutRows& w, int64_t r0, int64_t r1, float* out) {
  const int64_t block = layout::block_elements(w.bits);
  const int64_t whole = w.k / block * block;
  for (int64_t r = r0; r < r1; ++r) {
    const float* t = w.tables + (r / w.rows_per_table) * w.table_stride;
    const uint8_t* row = w.codes + r * w.row_bytes;
    float* o = out + (r - r0) * w.k;
    for (int64_t e = 0; e < w.k; ++e) {
      const int64_t pos = e < whole ? (e / block) * block + k_order_position(w.bits, e % block) : e;
      o[pos] = t[runtime::compressed::packed_code(row, w.bits, e)];
    }
  }
}

void gemm_rows_scalar(const float* w, int64_t rows, int64_t k, const float* xt, int64_t xs,
                      int64_t m_count, float* c, int64_t cs) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t m = 0; m < m_count; ++m) {
      float sum = 0;
      for (int64_t t = 0; t < k; ++t) sum += w[r * k + t] * xt[t * xs + m];
      c[r * cs + m] = sum;
    }
  }
}

void gemm_rows_at_scalar(const float* w, int64_t rows, int64_t k, const float* x,
                         const int64_t* offsets, int64_t m_count, float* c, int64_t cs) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t m = 0; m < m_count; ++m) {
      float sum = 0;
      for (int64_t t = 0; t < k; ++t) sum += w[r * k + t] * x[offsets[t] + m];
      c[r * cs + m] = sum;
    }
  }
}

void lut_gemv(const LutRows& w, int64_t r0, int64_t r1, const float* xa, float* out,
              int64_t out_stride) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(LutGemv)(w, r0, r1, xa, out, out_stride);
  } else {
    lut_gemv_scalar(w, r0, r1, xa, out, out_stride);
  }
}

void lut_decode(const LutRows& w, int64_t r0, int64_t r1, float* out) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(LutDecode)(w, r0, r1, out);
  } else {
    lut_decode_scalar(w, r0, r1, out);
  }
}

void f16_gemv(const uint16_t* w, int64_t row_stride, int64_t k, int64_t r0, int64_t r1,
              const float* x, float* out, int64_t out_stride) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(F16Gemv)(w, row_stride, k, r0, r1, x, out, out_stride);
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    float sum = 0;
    for (int64_t t = 0; t < k; ++t) sum += fp16_to_float(w[r * row_stride + t]) * x[t];
    out[(r - r0) * out_stride] = sum;
  }
}

void f32_gemv(const float* w, int64_t row_stride, int64_t k, int64_t r0, int64_t r1, const float* x,
              float* out, int64_t out_stride) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(F32Gemv)(w, row_stride, k, r0, r1, x, out, out_stride);
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    float sum = 0;
    for (int64_t t = 0; t < k; ++t) sum += w[r * row_stride + t] * x[t];
    out[(r - r0) * out_stride] = sum;
  }
}

void gemm_rows(const float* w, int64_t rows, int64_t k, const float* xt, int64_t xs,
               int64_t m_count, float* c, int64_t cs) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(GemmRows)(w, rows, k, xt, xs, m_count, c, cs);
  } else {
    gemm_rows_scalar(w, rows, k, xt, xs, m_count, c, cs);
  }
}

void gemm_rows_at(const float* w, int64_t rows, int64_t k, const float* x, const int64_t* offsets,
                  int64_t m_count, float* c, int64_t cs) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(GemmRowsAt)(w, rows, k, x, offsets, m_count, c, cs);
  } else {
    gemm_rows_at_scalar(w, rows, k, x, offsets, m_count, c, cs);
  }
}

}  // namespace coreml::kernels::linalg
#endif  // HWY_ONCE
