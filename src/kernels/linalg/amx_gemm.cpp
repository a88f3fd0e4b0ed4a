#include "kernels/linalg/amx_gemm.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/common/simd.h"
#include "runtime/env_flag.h"
#include "tensor/half.h"

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define COREML_AMX_CODE 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
// Only the functions marked with this use AMX and AVX-512; the rest of the file (and the
// program) stays baseline x86-64, and nothing marked runs unless amx_available().
#define COREML_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw")))
// Also AVX512-BF16's conversions (every CPU with AMX-BF16 has them; checked all the same).
#define COREML_AMX_BF16_TARGET \
  __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))
#else
#define COREML_AMX_CODE 0
#endif

namespace coreml::kernels::linalg {
namespace {

std::atomic<int>& amx_override() {
  static std::atomic<int> value{-1};  // -1: follow the CPU and the environment
  return value;
}

#if COREML_AMX_CODE
// g++ 12 reports its own AVX-512 intrinsics (the _mm512_undefined_* they start from) as
// "maybe uninitialized" when they are used under a target attribute.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
constexpr int kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for an XSAVE feature
constexpr int kXfeatureXtiledata = 18;     // the tile registers' data

uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool cpu_and_kernel_allow_amx() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 30));  // AVX512F, AVX512BW
  const bool tiles = (d & (1u << 24)) && (d & (1u << 22));   // AMX-TILE, AMX-BF16
  if (!avx512 || !tiles) return false;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) return false;  // AVX512-BF16
  // The OS must save AVX-512 (bits 5-7) and tile (17-18) state.
  const uint64_t xcr0 = read_xcr0();
  const uint64_t needed = (7ull << 5) | (3ull << 17) | 6ull;
  if ((xcr0 & needed) != needed) return false;
  // Linux hands out the 8 KiB of tile state only to processes that ask (once per process).
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

// The 64-byte operand of ldtilecfg: palette 1, eight tiles of 16 rows x 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

const TileConfig& tile_config() {
  static const TileConfig config = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.bytes_per_row[t] = 64;
      c.rows[t] = 16;
    }
    return c;
  }();
  return config;
}

// v rounded to the nearest bf16 (ties to even), as fp32 bits with the low half cleared.
COREML_AMX_TARGET inline __m512i round_to_bf16(__m512i bits) {
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
  return _mm512_and_si512(rounded, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
}

COREML_AMX_TARGET void split_row_avx512(const float* src, int64_t k, uint16_t* h, uint16_t* l) {
  const int64_t kp = amx_k_padded(k);
  if (src == nullptr) {
    std::memset(h, 0, static_cast<size_t>(kp) * 2);
    std::memset(l, 0, static_cast<size_t>(kp) * 2);
    return;
  }
  for (int64_t i = 0; i < kp; i += 16) {
    const int64_t left = k - i;
    const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                                      : static_cast<__mmask16>(left <= 0 ? 0 : (1u << left) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(mask, src + i);
    const __m512i high = round_to_bf16(_mm512_castps_si512(v));
    const __m512 rest = _mm512_sub_ps(v, _mm512_castsi512_ps(high));
    const __m512i low = round_to_bf16(_mm512_castps_si512(rest));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + i),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(high, 16)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(l + i),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(low, 16)));
  }
}

// fp16 rows are split while a product runs (weights not split at plan time), so this one is
// written for speed: 32 values a step, rounded to bf16 by AVX512-BF16's conversion (round to
// nearest even, as round_to_bf16; fp16 values and their remainders are never fp32 denormals,
// which that conversion would flush).
COREML_AMX_BF16_TARGET void split_f16_row_avx512bf16(const uint16_t* src, int64_t k, uint16_t* h,
                                                     uint16_t* l) {
  const int64_t kp = amx_k_padded(k);  // a multiple of 32
  for (int64_t i = 0; i < kp; i += 32) {
    const int64_t left = k - i;
    const __mmask32 mask =
        left >= 32 ? ~__mmask32{0} : static_cast<__mmask32>(left <= 0 ? 0 : (1u << left) - 1u);
    const __m512i halves = _mm512_maskz_loadu_epi16(mask, src + i);
    const __m512 v0 = _mm512_cvtph_ps(_mm512_castsi512_si256(halves));
    const __m512 v1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(halves, 1));
    const __m512i high = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v1, v0));
    // The high halves back as fp32: each 16-bit value moved to the top of a 32-bit lane.
    const __m512 h0 = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(high)), 16));
    const __m512 h1 = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(high, 1)), 16));
    const __m512i low = reinterpret_cast<__m512i>(
        _mm512_cvtne2ps_pbh(_mm512_sub_ps(v1, h1), _mm512_sub_ps(v0, h0)));
    _mm512_storeu_si512(h + i, high);
    _mm512_storeu_si512(l + i, low);
  }
}

COREML_AMX_TARGET void split_lut4_row_avx512(const uint8_t* codes, int64_t k, const uint16_t* table,
                                             uint16_t* hi, uint16_t* lo) {
  // Word permutes index 32 entries; codes < 16 pick from the 16 loaded into the low half.
  const __m512i t_hi =
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(table)));
  const __m512i t_lo =
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 16)));
  const __m512i nibble = _mm512_set1_epi32(0xF);
  const int64_t kp = amx_k_padded(k);
  for (int64_t i = 0; i < kp; i += 32) {
    const int64_t left = k - i;  // codes left in the row (k is even)
    __m128i bytes;
    if (left >= 32) {
      bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + i / 2));
    } else {
      alignas(16) uint8_t tail[16] = {};
      if (left > 0) std::memcpy(tail, codes + i / 2, static_cast<size_t>(left / 2));
      bytes = _mm_load_si128(reinterpret_cast<const __m128i*>(tail));
    }
    // Each byte to a 32-bit word holding its two codes as 16-bit indices, low nibble first.
    const __m512i b = _mm512_cvtepu8_epi32(bytes);
    const __m512i index = _mm512_or_si512(_mm512_and_si512(b, nibble),
                                          _mm512_slli_epi32(_mm512_srli_epi32(b, 4), 16));
    const __mmask32 valid =
        left >= 32 ? ~__mmask32{0} : (left <= 0 ? __mmask32{0} : (__mmask32{1} << left) - 1);
    _mm512_storeu_si512(hi + i, _mm512_maskz_permutexvar_epi16(valid, index, t_hi));
    _mm512_storeu_si512(lo + i, _mm512_maskz_permutexvar_epi16(valid, index, t_lo));
  }
}

COREML_AMX_TARGET void pack_pair_avx512(const float* x0, const float* x1, int64_t count,
                                        int64_t tokens_padded, uint16_t* hi, uint16_t* lo) {
  const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t t = 0; t < tokens_padded; t += 16) {
    const int64_t left = count - t;
    const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                                      : static_cast<__mmask16>(left <= 0 ? 0 : (1u << left) - 1u);
    const __m512 v0 = x0 ? _mm512_maskz_loadu_ps(mask, x0 + t) : _mm512_setzero_ps();
    const __m512 v1 = x1 ? _mm512_maskz_loadu_ps(mask, x1 + t) : _mm512_setzero_ps();
    const __m512i h0 = round_to_bf16(_mm512_castps_si512(v0));
    const __m512i h1 = round_to_bf16(_mm512_castps_si512(v1));
    const __m512i l0 =
        round_to_bf16(_mm512_castps_si512(_mm512_sub_ps(v0, _mm512_castsi512_ps(h0))));
    const __m512i l1 =
        round_to_bf16(_mm512_castps_si512(_mm512_sub_ps(v1, _mm512_castsi512_ps(h1))));
    // A pair is one 32-bit word: position k in the low half, k + 1 in the high half.
    const __m512i hw = _mm512_or_si512(_mm512_and_si512(h1, high_half), _mm512_srli_epi32(h0, 16));
    const __m512i lw = _mm512_or_si512(_mm512_and_si512(l1, high_half), _mm512_srli_epi32(l0, 16));
    _mm512_storeu_si512(hi + 2 * t, hw);
    _mm512_storeu_si512(lo + 2 * t, lw);
  }
}

// hi/lo: [16 rows][k_padded] halves each; word p of every row (a pair of k) gathered into one
// 16-word row of the interleaved layout.
COREML_AMX_TARGET void interleave_tokens_avx512(const uint16_t* rows_hi, const uint16_t* rows_lo,
                                                int64_t kp, int64_t token0, int64_t tokens_padded,
                                                uint16_t* hi, uint16_t* lo) {
  const __m512i index =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int>(kp / 2)));
  for (int64_t p = 0; p < kp / 2; ++p) {
    const __m512i h = _mm512_i32gather_epi32(index, rows_hi + 2 * p, 4);
    const __m512i l = _mm512_i32gather_epi32(index, rows_lo + 2 * p, 4);
    _mm512_storeu_si512(hi + (p * tokens_padded + token0) * 2, h);
    _mm512_storeu_si512(lo + (p * tokens_padded + token0) * 2, l);
  }
}

// Output tiles 0..kTiles-1, weight halves in tiles 4 and 5, activation halves in 6 and 7
// (kSplit); or, for plain bf16 products, the high halves alone in 4 and 6 / 7.
template <int kTiles, bool kSplit>
COREML_AMX_TARGET void gemm_tiles(const uint16_t* w_hi, const uint16_t* w_lo, int64_t k,
                                  const uint16_t* x_hi, const uint16_t* x_lo, int64_t tokens_padded,
                                  float* c, int64_t c_stride, int64_t w_stride, bool accumulate) {
  // The configuration stays loaded in this thread (nothing else here uses tiles): loading and
  // releasing it around every 16 rows costs more than a short row's products.
  thread_local bool configured = false;
  if (!configured) {
    _tile_loadconfig(&tile_config());
    configured = true;
  }
  const int64_t kp = amx_k_padded(k);
  const int64_t w_bytes = (w_stride > 0 ? w_stride : kp) * 2;  // between weight rows
  const int64_t x_bytes = tokens_padded * 4;                   // between pairs of k
  const int64_t c_bytes = c_stride * 4;
  if (accumulate) {
    _tile_loadd(0, c, c_bytes);
    if constexpr (kTiles > 1) _tile_loadd(1, c + kAmxTokens, c_bytes);
    if constexpr (kTiles > 2) _tile_loadd(2, c + 2 * kAmxTokens, c_bytes);
    if constexpr (kTiles > 3) _tile_loadd(3, c + 3 * kAmxTokens, c_bytes);
  } else {
    _tile_zero(0);
    if constexpr (kTiles > 1) _tile_zero(1);
    if constexpr (kTiles > 2) _tile_zero(2);
    if constexpr (kTiles > 3) _tile_zero(3);
  }
  for (int64_t k0 = 0; k0 < kp; k0 += kAmxKStep) {
    const uint16_t* xh = x_hi + k0 * tokens_padded;  // (k0 / 2) pairs of tokens_padded x 2
    _tile_loadd(4, w_hi + k0, w_bytes);
    if constexpr (kSplit) {
      _tile_loadd(5, w_lo + k0, w_bytes);
      const uint16_t* xl = x_lo + k0 * tokens_padded;
      // hi.hi + lo.hi + hi.lo into output tile T (tokens 16T .. 16T + 15).
#define COREML_AMX_TOKEN_TILE(T)                    \
  _tile_loadd(6, xh + (T)*2 * kAmxTokens, x_bytes); \
  _tile_dpbf16ps(T, 4, 6);                          \
  _tile_dpbf16ps(T, 5, 6);                          \
  _tile_loadd(7, xl + (T)*2 * kAmxTokens, x_bytes); \
  _tile_dpbf16ps(T, 4, 7);
      COREML_AMX_TOKEN_TILE(0)
      if constexpr (kTiles > 1) {
        COREML_AMX_TOKEN_TILE(1)
      }
      if constexpr (kTiles > 2) {
        COREML_AMX_TOKEN_TILE(2)
      }
      if constexpr (kTiles > 3) {
        COREML_AMX_TOKEN_TILE(3)
      }
#undef COREML_AMX_TOKEN_TILE
    } else {
      // hi.hi only; two activation tiles alternate so a load need not wait for the last product.
      _tile_loadd(6, xh, x_bytes);
      _tile_dpbf16ps(0, 4, 6);
      if constexpr (kTiles > 1) {
        _tile_loadd(7, xh + 2 * kAmxTokens, x_bytes);
        _tile_dpbf16ps(1, 4, 7);
      }
      if constexpr (kTiles > 2) {
        _tile_loadd(6, xh + 4 * kAmxTokens, x_bytes);
        _tile_dpbf16ps(2, 4, 6);
      }
      if constexpr (kTiles > 3) {
        _tile_loadd(7, xh + 6 * kAmxTokens, x_bytes);
        _tile_dpbf16ps(3, 4, 7);
      }
    }
  }
  _tile_stored(0, c, c_bytes);
  if constexpr (kTiles > 1) _tile_stored(1, c + kAmxTokens, c_bytes);
  if constexpr (kTiles > 2) _tile_stored(2, c + 2 * kAmxTokens, c_bytes);
  if constexpr (kTiles > 3) _tile_stored(3, c + 3 * kAmxTokens, c_bytes);
}
#endif  // COREML_AMX_CODE

bool amx_supported() {
#if COREML_AMX_CODE
  static const bool supported = cpu_and_kernel_allow_amx();
  return supported;
#else
  return false;
#endif
}

bool amx_bf16_from_environment() {
  static const bool bf16 = [] {
    const char* v = std::getenv("COREML_AMX");
    return v != nullptr && std::strcmp(v, "bf16") == 0;
  }();
  return bf16;
}

bool amx_from_environment() {
  static const bool enabled = runtime::env_flag("COREML_AMX", true);
  return enabled;
}

uint32_t float_bits(float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, 4);
  return bits;
}

float bits_float(uint32_t bits) {
  float v = 0;
  std::memcpy(&v, &bits, 4);
  return v;
}

uint32_t round_to_bf16(uint32_t bits) {
  return (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
}

}  // namespace

void amx_split_value(float v, uint16_t* hi, uint16_t* lo) {
  const uint32_t high = round_to_bf16(float_bits(v));
  const uint32_t low = round_to_bf16(float_bits(v - bits_float(high)));
  *hi = static_cast<uint16_t>(high >> 16);
  *lo = static_cast<uint16_t>(low >> 16);
}

bool amx_available() {
  if (!simd_enabled() || !amx_supported()) return false;
  const int forced = amx_override().load(std::memory_order_relaxed);
  return forced < 0 ? amx_from_environment() : forced != 0;
}

bool amx_product_pays(int64_t outputs, int64_t k) {
  if (amx_override().load(std::memory_order_relaxed) == 1) return true;
  return outputs >= 32 && k >= 64;
}

bool amx_bf16_products() { return amx_bf16_from_environment(); }

void set_amx_enabled_for_testing(std::optional<bool> enabled) {
  amx_override().store(enabled ? (*enabled ? 1 : 0) : -1);
}

void amx_split_row(const float* row, int64_t k, uint16_t* hi, uint16_t* lo) {
#if COREML_AMX_CODE
  if (amx_supported()) {
    split_row_avx512(row, k, hi, lo);
    return;
  }
#endif
  const int64_t kp = amx_k_padded(k);
  for (int64_t i = 0; i < kp; ++i) amx_split_value(row && i < k ? row[i] : 0.0f, hi + i, lo + i);
}

void amx_split_f16_row(const uint16_t* row, int64_t k, uint16_t* hi, uint16_t* lo) {
#if COREML_AMX_CODE
  if (amx_supported()) {
    split_f16_row_avx512bf16(row, k, hi, lo);
    return;
  }
#endif
  const int64_t kp = amx_k_padded(k);
  for (int64_t i = 0; i < kp; ++i) {
    amx_split_value(i < k ? fp16_to_float(row[i]) : 0.0f, hi + i, lo + i);
  }
}

void amx_split_rows(const float* rows, int64_t count, int64_t row_stride, int64_t k, uint16_t* hi,
                    uint16_t* lo) {
  const int64_t kp = amx_k_padded(k);
  for (int64_t r = 0; r < kAmxRows; ++r) {
    amx_split_row(r < count ? rows + r * row_stride : nullptr, k, hi + r * kp, lo + r * kp);
  }
}

void amx_pack_token(const float* x, int64_t k, int64_t token, int64_t tokens_padded, uint16_t* hi,
                    uint16_t* lo, uint16_t* tmp) {
  const int64_t kp = amx_k_padded(k);
  amx_split_row(x, k, tmp, tmp + kp);
  // Pairs of k move as one 32-bit unit: [k_padded / 2] -> column `token`.
  for (int half = 0; half < 2; ++half) {
    const uint16_t* src = tmp + half * kp;
    uint16_t* dst = (half == 0 ? hi : lo) + token * 2;
    for (int64_t p = 0; p < kp / 2; ++p) {
      std::memcpy(dst + p * tokens_padded * 2, src + 2 * p, 4);
    }
  }
}

void amx_pack_tokens(const float* rows, int64_t row_stride, int64_t count, int64_t k,
                     int64_t token0, int64_t tokens_padded, uint16_t* hi, uint16_t* lo,
                     uint16_t* tmp) {
  const int64_t kp = amx_k_padded(k);
  uint16_t* rows_hi = tmp;
  uint16_t* rows_lo = tmp + kAmxTokens * kp;
  for (int64_t j = 0; j < kAmxTokens; ++j) {
    amx_split_row(j < count ? rows + j * row_stride : nullptr, k, rows_hi + j * kp,
                  rows_lo + j * kp);
  }
#if COREML_AMX_CODE
  if (amx_supported()) {
    interleave_tokens_avx512(rows_hi, rows_lo, kp, token0, tokens_padded, hi, lo);
    return;
  }
#endif
  for (int64_t j = 0; j < kAmxTokens; ++j) {
    for (int64_t p = 0; p < kp / 2; ++p) {
      std::memcpy(hi + (p * tokens_padded + token0 + j) * 2, rows_hi + j * kp + 2 * p, 4);
      std::memcpy(lo + (p * tokens_padded + token0 + j) * 2, rows_lo + j * kp + 2 * p, 4);
    }
  }
}

void amx_split_table(const float* values, int64_t entries, uint16_t* out) {
  for (int64_t i = 0; i < entries; ++i) amx_split_value(values[i], out + i, out + entries + i);
}

void amx_split_lut4_row(const uint8_t* codes, int64_t k, const uint16_t* table, uint16_t* hi,
                        uint16_t* lo) {
#if COREML_AMX_CODE
  if (amx_supported()) {
    split_lut4_row_avx512(codes, k, table, hi, lo);
    return;
  }
#endif
  const int64_t kp = amx_k_padded(k);
  for (int64_t i = 0; i < kp; ++i) {
    const int code = i < k ? (codes[i / 2] >> (4 * (i & 1))) & 0xF : -1;
    hi[i] = code < 0 ? 0 : table[code];
    lo[i] = code < 0 ? 0 : table[16 + code];
  }
}

void amx_pack_pair(const float* x0, const float* x1, int64_t count, int64_t tokens_padded,
                   uint16_t* hi, uint16_t* lo) {
#if COREML_AMX_CODE
  if (amx_supported()) {
    pack_pair_avx512(x0, x1, count, tokens_padded, hi, lo);
    return;
  }
#endif
  for (int64_t t = 0; t < tokens_padded; ++t) {
    amx_split_value(x0 && t < count ? x0[t] : 0.0f, hi + 2 * t, lo + 2 * t);
    amx_split_value(x1 && t < count ? x1[t] : 0.0f, hi + 2 * t + 1, lo + 2 * t + 1);
  }
}

void amx_gemm(const uint16_t* w_hi, const uint16_t* w_lo, int64_t k, const uint16_t* x_hi,
              const uint16_t* x_lo, int64_t tokens_padded, float* c, int64_t c_stride,
              int64_t w_stride, bool accumulate) {
#if COREML_AMX_CODE
  const bool split = w_lo != nullptr && x_lo != nullptr;
  switch (tokens_padded / kAmxTokens * (split ? 1 : -1)) {
    case 1:
      return gemm_tiles<1, true>(w_hi, w_lo, k, x_hi, x_lo, tokens_padded, c, c_stride, w_stride,
                                 accumulate);
    case 2:
      return gemm_tiles<2, true>(w_hi, w_lo, k, x_hi, x_lo, tokens_padded, c, c_stride, w_stride,
                                 accumulate);
    case 3:
      return gemm_tiles<3, true>(w_hi, w_lo, k, x_hi, x_lo, tokens_padded, c, c_stride, w_stride,
                                 accumulate);
    case 4:
      return gemm_tiles<4, true>(w_hi, w_lo, k, x_hi, x_lo, tokens_padded, c, c_stride, w_stride,
                                 accumulate);
    case -1:
      return gemm_tiles<1, false>(w_hi, w_lo, k, x_hi, x_lo, tokens_padded, c, c_stride, w_stride,
                                  accumulate);
    case -2:
      return gemm_tiles<2, false>(w_hi, w_lo, k, x_hi, x_lo, tokens_padded, c, c_stride, w_stride,
                                  accumulate);
    case -3:
      return gemm_tiles<3, false>(w_hi, w_lo, k, x_hi, x_lo, tokens_padded, c, c_stride, w_stride,
                                  accumulate);
    case -4:
      return gemm_tiles<4, false>(w_hi, w_lo, k, x_hi, x_lo, tokens_padded, c, c_stride, w_stride,
                                  accumulate);
    default: break;
  }
#endif
  std::abort();  // callers check amx_available() and the token count
}

}  // namespace coreml::kernels::linalg
