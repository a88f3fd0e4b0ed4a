#include "kernels/linalg/conv_pack.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/common/convert_simd.h"
#include "kernels/common/simd.h"
#include "kernels/linalg/amx_gemm.h"
#include "runtime/env_flag.h"
#include "tensor/half.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define COREML_PACK_AVX512 1
#include <immintrin.h>
// Only the functions marked with this use AVX-512; they run only where the CPU has it.
#define COREML_PACK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
// g++ 12 reports its own AVX-512 intrinsics (the _mm512_undefined_* they start from) as
// "maybe uninitialized" when they are used under a target attribute.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#else
#define COREML_PACK_AVX512 0
#endif

namespace coreml::kernels::linalg {
namespace {

std::atomic<int>& direct_override() {
  static std::atomic<int> value{-1};  // -1: follow the environment
  return value;
}

bool direct_from_environment() {
  static const bool enabled = runtime::env_flag("COREML_CONV_PACK", true);
  return enabled;
}

// The element a run's token reads, as fp32. Only for tokens in [begin, end).
float element(const TokenRun& r, int64_t index, bool fp16) {
  if (fp16) return fp16_to_float(static_cast<const uint16_t*>(r.input)[index]);
  return static_cast<const float*>(r.input)[index];
}

float token_value(const TokenRun& r, int64_t t, bool fp16) {
  if (r.input == nullptr || t < r.begin || t >= r.end) return 0.0f;
  return element(r, r.source + t * r.stride, fp16);
}

#if COREML_PACK_AVX512
bool avx512_usable() {
  // libgcc's and compiler-rt's checks include the OS saving the AVX-512 state.
  static const bool usable = __builtin_cpu_supports("avx512f") != 0 &&
                             __builtin_cpu_supports("avx512bw") != 0 &&
                             __builtin_cpu_supports("avx512vl") != 0;
  return usable;
}

// Element `index` of the input as an address, without C++ pointer arithmetic: lanes of a
// masked load may lie outside the input (padding), and the hardware suppresses their faults.
template <typename T>
const T* element_address(const void* input, int64_t index) {
  return reinterpret_cast<const T*>(reinterpret_cast<intptr_t>(input) +
                                    static_cast<intptr_t>(index) *
                                        static_cast<intptr_t>(sizeof(T)));
}

// Bits [lo, hi) set (hi <= 32).
inline uint32_t bit_range(int64_t lo, int64_t hi) {
  const uint32_t below_hi = hi >= 32 ? ~0u : (1u << hi) - 1u;
  return below_hi & ~((1u << lo) - 1u);
}

// Wider strides (rare): lanes [lo, hi) read one by one from element `first` on. Not inlined,
// so the common loads need no aligned stack frame.
__attribute__((noinline)) COREML_PACK_TARGET __m512 load_lanes_one_by_one(const TokenRun& r,
                                                                          int64_t first, int64_t lo,
                                                                          int64_t hi, bool fp16) {
  alignas(64) float values[16] = {};
  for (int64_t i = lo; i < hi; ++i) values[i] = element(r, first + i * r.stride, fp16);
  return _mm512_load_ps(values);
}

// 16 tokens from element `first` on, every one inside the input, for strides 1 and 2; no
// element past the last token's is read.
COREML_PACK_TARGET inline __m512 load_whole_avx512(const void* input, int64_t first, int64_t stride,
                                                   bool fp16) {
  if (stride == 1) {
    if (fp16) {
      return _mm512_cvtph_ps(_mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(element_address<uint16_t>(input, first))));
    }
    return _mm512_loadu_ps(element_address<float>(input, first));
  }
  // Elements 0, 2, ..., 30: the first 8 from elements [0, 16), the last 8 from [15, 31).
  if (fp16) {
    const __m256i a = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(element_address<uint16_t>(input, first)));
    const __m256i b = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(element_address<uint16_t>(input, first + 15)));
    const __m256i even =
        _mm256_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_cvtph_ps(_mm256_permutex2var_epi16(a, even, b));
  }
  const __m512 a = _mm512_loadu_ps(element_address<float>(input, first));
  const __m512 b = _mm512_loadu_ps(element_address<float>(input, first + 15));
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31);
  return _mm512_permutex2var_ps(a, even, b);
}

// Tokens [t, t + n) of run r (n <= 16) in the lanes of one vector, padding lanes zero.
inline COREML_PACK_TARGET __m512 load_tokens_avx512(const TokenRun& r, int64_t t, int64_t n,
                                                    bool fp16) {
  const int64_t lo = std::clamp<int64_t>(r.begin - t, 0, n);
  const int64_t hi = std::clamp<int64_t>(r.end - t, lo, n);
  if (r.input == nullptr || lo == hi) return _mm512_setzero_ps();
  const int64_t first = r.source + t * r.stride;  // lane 0's element
  const auto lanes = static_cast<__mmask16>(bit_range(lo, hi));
  // Inside the input, the vector is loaded whole and its padding lanes cleared in registers:
  // masked loads are slow on some CPUs (Zen 4), more so than the one extra operation.
  const int64_t span = r.stride == 1 ? 16 : (r.stride == 2 ? 31 : 0);
  if (span > 0 && first >= 0 && first + span <= r.extent) {
    return _mm512_maskz_mov_ps(lanes, load_whole_avx512(r.input, first, r.stride, fp16));
  }
  if (r.stride == 1) {
    if (fp16) {
      const auto* p = element_address<uint16_t>(r.input, first);
      // Whole vectors unmasked: a masked load costs more, even where every lane is valid.
      const __m256i halves = lanes == 0xFFFF
                                 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                                 : _mm256_maskz_loadu_epi16(lanes, p);
      return _mm512_cvtph_ps(halves);
    }
    const auto* p = element_address<float>(r.input, first);
    return lanes == 0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(lanes, p);
  }
  if (r.stride == 2) {
    // Lane i reads element 2 i of the 32 from `first`: elements [2 lo, 2 hi - 1) are loaded.
    const uint32_t elements = bit_range(2 * lo, 2 * hi - 1);
    if (fp16) {
      const __m512i words = _mm512_maskz_loadu_epi16(static_cast<__mmask32>(elements),
                                                     element_address<uint16_t>(r.input, first));
      // Each 32-bit word's low half is its even element.
      return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(words));
    }
    const __m512 a = _mm512_maskz_loadu_ps(static_cast<__mmask16>(elements & 0xFFFFu),
                                           element_address<float>(r.input, first));
    const __m512 b = _mm512_maskz_loadu_ps(static_cast<__mmask16>(elements >> 16),
                                           element_address<float>(r.input, first + 16));
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(a, even, b);
  }
  return load_lanes_one_by_one(r, first, lo, hi, fp16);
}

COREML_PACK_TARGET inline __m512i round_to_bf16_avx512(__m512i bits) {
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
  return _mm512_and_si512(rounded, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
}

__attribute__((always_inline)) inline COREML_PACK_TARGET void pack_pair_run_avx512(
    const TokenRun& r0, const TokenRun& r1, int64_t count, bool fp16, uint16_t* hi, uint16_t* lo) {
  const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  // Stride-1 vectors inside the input are loaded whole.
  auto whole = [](const TokenRun& r, int64_t t, int64_t n) {
    return n == 16 && r.input != nullptr && r.stride == 1 && t >= r.begin && t + 16 <= r.end;
  };
  for (int64_t t = 0; t < count; t += 16) {
    const int64_t n = std::min<int64_t>(16, count - t);
    const __m512 v0 = whole(r0, t, n) ? load_whole_avx512(r0.input, r0.source + t, 1, fp16)
                                      : load_tokens_avx512(r0, t, n, fp16);
    const __m512 v1 = whole(r1, t, n) ? load_whole_avx512(r1.input, r1.source + t, 1, fp16)
                                      : load_tokens_avx512(r1, t, n, fp16);
    const __m512i h0 = round_to_bf16_avx512(_mm512_castps_si512(v0));
    const __m512i h1 = round_to_bf16_avx512(_mm512_castps_si512(v1));
    const __m512i l0 =
        round_to_bf16_avx512(_mm512_castps_si512(_mm512_sub_ps(v0, _mm512_castsi512_ps(h0))));
    const __m512i l1 =
        round_to_bf16_avx512(_mm512_castps_si512(_mm512_sub_ps(v1, _mm512_castsi512_ps(h1))));
    // A pair is one 32-bit word: position k in the low half, k + 1 in the high half.
    const __m512i hw = _mm512_or_si512(_mm512_and_si512(h1, high_half), _mm512_srli_epi32(h0, 16));
    const __m512i lw = _mm512_or_si512(_mm512_and_si512(l1, high_half), _mm512_srli_epi32(l0, 16));
    const auto pairs = static_cast<__mmask16>(bit_range(0, n));
    _mm512_mask_storeu_epi32(hi + 2 * t, pairs, hw);
    _mm512_mask_storeu_epi32(lo + 2 * t, pairs, lw);
  }
}

__attribute__((always_inline)) inline COREML_PACK_TARGET void copy_token_run_avx512(
    const TokenRun& r, int64_t count, int64_t room, bool fp16, float* dst) {
  // Whole-vector stores wherever there is room (a masked store is slow on some CPUs, e.g.
  // Zen 4); runs are written in order, so what spills past a vector's tokens is written again.
  auto store = [&](int64_t t, __m512 v) COREML_PACK_TARGET {
    if (t + 16 <= room) {
      _mm512_storeu_ps(dst + t, v);
    } else {
      _mm512_mask_storeu_ps(dst + t, static_cast<__mmask16>(bit_range(0, count - t)), v);
    }
  };
  int64_t t = 0;
  if (r.input != nullptr && (r.stride == 1 || r.stride == 2)) {
    // The common run: padding zeros, whole vectors of the line, its last part, zeros.
    const int64_t begin = std::clamp<int64_t>(r.begin, 0, count);
    const int64_t end = std::clamp<int64_t>(r.end, begin, count);
    for (; t < begin; t += 16) store(t, _mm512_setzero_ps());
    t = begin;
    int64_t first = r.source + begin * r.stride;
    for (; t + 16 <= end; t += 16, first += 16 * r.stride) {
      _mm512_storeu_ps(dst + t, load_whole_avx512(r.input, first, r.stride, fp16));
    }
    if (t < end) {
      const auto lanes = static_cast<__mmask16>(bit_range(0, end - t));
      const int64_t span = r.stride == 1 ? 16 : 31;
      store(t, first >= 0 && first + span <= r.extent
                   ? _mm512_maskz_mov_ps(lanes, load_whole_avx512(r.input, first, r.stride, fp16))
                   : load_tokens_avx512(r, t, std::min<int64_t>(16, count - t), fp16));
      t += 16;
    }
    for (; t < count; t += 16) store(t, _mm512_setzero_ps());
    return;
  }
  for (; t < count; t += 16) {
    store(t, load_tokens_avx512(r, t, std::min<int64_t>(16, count - t), fp16));
  }
}

// Out of line for the function pointers of pack_routines().
COREML_PACK_TARGET void copy_token_run_simd(const TokenRun& r, int64_t count, int64_t room,
                                            bool fp16, float* dst) {
  copy_token_run_avx512(r, count, room, fp16, dst);
}

COREML_PACK_TARGET void pack_pair_run_simd(const TokenRun& r0, const TokenRun& r1, int64_t count,
                                           bool fp16, uint16_t* hi, uint16_t* lo) {
  pack_pair_run_avx512(r0, r1, count, fp16, hi, lo);
}

COREML_PACK_TARGET void copy_conv_tokens_avx512(const ConvSource& s, int64_t kk0, int64_t kk1,
                                                float* dst, int64_t stride, int64_t room) {
  // Rows back to back (room == stride): what spills past a row lands in the next one, written
  // after it, so every row but the last has that much more room.
  const int64_t inner_room = room == stride ? room + stride : room;
  for (int64_t kk = kk0; kk < kk1; ++kk) {
    float* row_dst = dst + (kk - kk0) * stride;
    const int64_t row_room = kk + 1 < kk1 ? inner_room : room;
    for (int64_t i = 0; i < s.row_count; ++i) {
      const ConvRowRun& row = s.rows[i];
      copy_token_run_avx512(conv_token_run(s, kk, row), row.count, row_room - row.done, s.fp16,
                            row_dst + row.done);
    }
  }
}

COREML_PACK_TARGET void pack_conv_pairs_avx512(const ConvSource& s, int64_t pair0, int64_t pair1,
                                               uint16_t* hi, uint16_t* lo, int64_t stride) {
  for (int64_t pair = pair0; pair < pair1; ++pair) {
    const int64_t at = (pair - pair0) * stride;
    for (int64_t i = 0; i < s.row_count; ++i) {
      const ConvRowRun& row = s.rows[i];
      pack_pair_run_avx512(conv_token_run(s, 2 * pair, row), conv_token_run(s, 2 * pair + 1, row),
                           row.count, s.fp16, hi + at + 2 * row.done, lo + at + 2 * row.done);
    }
  }
}
#endif

}  // namespace

void copy_conv_tokens(const ConvSource& s, int64_t kk0, int64_t kk1, float* dst, int64_t stride,
                      int64_t room) {
#if COREML_PACK_AVX512
  if (avx512_usable() && simd_enabled()) {
    copy_conv_tokens_avx512(s, kk0, kk1, dst, stride, room);
    return;
  }
#endif
  for (int64_t kk = kk0; kk < kk1; ++kk) {
    float* row_dst = dst + (kk - kk0) * stride;
    for (int64_t i = 0; i < s.row_count; ++i) {
      const ConvRowRun& row = s.rows[i];
      copy_token_run_portable(conv_token_run(s, kk, row), row.count, room - row.done, s.fp16,
                              row_dst + row.done);
    }
  }
}

void pack_conv_pairs(const ConvSource& s, int64_t pair0, int64_t pair1, uint16_t* hi, uint16_t* lo,
                     int64_t stride) {
#if COREML_PACK_AVX512
  if (avx512_usable() && simd_enabled()) {
    pack_conv_pairs_avx512(s, pair0, pair1, hi, lo, stride);
    return;
  }
#endif
  for (int64_t pair = pair0; pair < pair1; ++pair) {
    const int64_t at = (pair - pair0) * stride;
    for (int64_t i = 0; i < s.row_count; ++i) {
      const ConvRowRun& row = s.rows[i];
      pack_pair_run_scalar(conv_token_run(s, 2 * pair, row), conv_token_run(s, 2 * pair + 1, row),
                           row.count, s.fp16, hi + at + 2 * row.done, lo + at + 2 * row.done);
    }
  }
}

void copy_token_run(const TokenRun& run, int64_t count, int64_t room, bool fp16, float* dst) {
#if COREML_PACK_AVX512
  if (avx512_usable() && simd_enabled()) {
    copy_token_run_simd(run, count, room, fp16, dst);
    return;
  }
#endif
  copy_token_run_portable(run, count, room, fp16, dst);
}

void copy_token_run_portable(const TokenRun& run, int64_t count, int64_t room, bool fp16,
                             float* dst) {
  (void)room;
  const int64_t begin = run.input == nullptr ? count : std::clamp<int64_t>(run.begin, 0, count);
  const int64_t end = run.input == nullptr ? count : std::clamp<int64_t>(run.end, begin, count);
  std::fill(dst, dst + begin, 0.0f);
  std::fill(dst + end, dst + count, 0.0f);
  if (begin == end) return;
  const int64_t first = run.source + begin * run.stride;
  if (run.stride == 1) {
    if (fp16) {
      f16_to_f32(static_cast<const uint16_t*>(run.input) + first, dst + begin, end - begin);
    } else {
      std::memcpy(dst + begin, static_cast<const float*>(run.input) + first,
                  static_cast<size_t>(end - begin) * sizeof(float));
    }
    return;
  }
  for (int64_t i = begin; i < end; ++i) {
    dst[i] = element(run, first + (i - begin) * run.stride, fp16);
  }
}

void pack_pair_run_scalar(const TokenRun& r0, const TokenRun& r1, int64_t count, bool fp16,
                          uint16_t* hi, uint16_t* lo) {
  for (int64_t t = 0; t < count; ++t) {
    amx_split_value(token_value(r0, t, fp16), hi + 2 * t, lo + 2 * t);
    amx_split_value(token_value(r1, t, fp16), hi + 2 * t + 1, lo + 2 * t + 1);
  }
}

void pack_pair_run(const TokenRun& r0, const TokenRun& r1, int64_t count, bool fp16, uint16_t* hi,
                   uint16_t* lo) {
#if COREML_PACK_AVX512
  if (avx512_usable() && simd_enabled()) {
    pack_pair_run_simd(r0, r1, count, fp16, hi, lo);
    return;
  }
#endif
  pack_pair_run_scalar(r0, r1, count, fp16, hi, lo);
}

PackRoutines pack_routines() {
#if COREML_PACK_AVX512
  if (avx512_usable() && simd_enabled()) return {copy_token_run_simd, pack_pair_run_simd};
#endif
  return {copy_token_run_portable, pack_pair_run_scalar};
}

bool direct_packing_enabled() {
  const int forced = direct_override().load(std::memory_order_relaxed);
  return forced < 0 ? direct_from_environment() : forced != 0;
}

void set_direct_packing_for_testing(std::optional<bool> enabled) {
  direct_override().store(enabled ? (*enabled ? 1 : 0) : -1);
}

}  // namespace coreml::kernels::linalg
