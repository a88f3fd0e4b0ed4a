// Compiled once per SIMD target by Highway's foreach_target (see depthwise_simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/depthwise_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "kernels/linalg/depthwise_simd.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/common/hwy_f16.h"
#include "kernels/common/hwy_tail.h"
#include "kernels/common/simd.h"
#include "tensor/half.h"

// Defined once, although foreach_target includes this file once per target.
#ifndef COREML_DEPTHWISE_SIMD_SHARED
#define COREML_DEPTHWISE_SIMD_SHARED
namespace coreml::kernels::linalg {
namespace {

// Columns of a padded line the loops read when outputs go in vectors of `lanes`.
int64_t used_width(const DepthwiseChannel& c, int64_t lanes) {
  const int64_t vectors = (c.out_w + lanes - 1) / lanes * lanes;
  return std::min(c.line_stride, (vectors - 1) * c.stride_w + (c.kernel_w - 1) * c.dilation_w + 2);
}

// Where a plane's input lines go in its padded lines: `used` columns are read, an input line's
// values start at column `left` and `width` of them fit (both clamped to the used columns).
struct PaddedLines {
  int64_t used, left, width;
  PaddedLines(const DepthwiseChannel& c, int64_t lanes)
      : used(used_width(c, lanes)),
        left(std::min(c.left, used)),
        width(std::clamp<int64_t>(used - left, 0, c.in_w)) {}
};

// Input line ih of the plane (fp16 or fp32 values).
const void* input_line(const DepthwiseChannel& c, int64_t ih) {
  return static_cast<const std::byte*>(c.input) +
         static_cast<size_t>(ih * c.in_w) * (c.half ? 2 : 4);
}

// A stride-2 padded line stored split: its even columns from 0, its odd ones from `half`, so
// tap kw of the outputs from ow on is the plain vector at kw / 2 + ow (+ half when kw is odd).
// Each half holds `pairs` columns (as many as the loops read, in whole vectors) and a vector
// of slack, which a line's last, partial vector of values may write (zeros). Returns half, or
// 0 for lines too short for two, and for output rows of less than two vectors (they keep the
// de-interleaving loads): MobileNet's 28- and 14-wide fp16 input lines, mostly one partial
// pair, measured 1.2-1.5x slower split. On 16 lanes, 5x5 kernels split from rows of more than
// one vector: their de-interleaving loads (15 per 25 FMAs, against 6 per 9 for 3x3) cost more
// than the split. EfficientNet's 144-channel 5x5 over 56 x 56 (28 outputs a row) took 0.28 ms
// with them and 0.22 split, rows of 20 and 24 outputs and fp16 input gained alike; MobileNet's
// 72-channel 3x3 (28 outputs) was no faster split, one-vector rows (14) neither.
int64_t split_half(const DepthwiseChannel& c, int64_t lanes) {
  const int64_t pairs = ((used_width(c, lanes) + 1) / 2 + lanes - 1) / lanes * lanes;
  const int64_t min_width = c.kernel_w == 5 && lanes >= 16 ? lanes + 1 : 2 * lanes;
  return c.out_w >= min_width && 2 * (pairs + lanes) <= c.line_stride ? pairs + lanes : 0;
}

}  // namespace
}  // namespace coreml::kernels::linalg
#endif  // COREML_DEPTHWISE_SIMD_SHARED

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D>
HWY_INLINE void Zero(D d, float* dst, int64_t n) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Zero(d), d, dst + i);
  for (; i < n; ++i) dst[i] = 0.0f;
}

// One input line into dst as fp32 in whole vectors. With `overrun`, the last vector reads
// past the line (into the next line of the plane) and writes past dst + n (the caller zeroes
// or rewrites what follows); else the tail goes element by element (fp32) or through a vector
// on the stack (fp16): no read past the line, which may end the tensor.
template <class D>
HWY_INLINE void Widen(D d, const void* src, bool half, float* dst, int64_t n, bool overrun) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t whole = overrun ? n : n / lanes * lanes;
  int64_t i = 0;
  if (!half) {
    const auto* s = static_cast<const float*>(src);
    for (; i < whole; i += lanes) hn::StoreU(hn::LoadU(d, s + i), d, dst + i);
    for (; i < n; ++i) dst[i] = s[i];
    return;
  }
  const auto* s = static_cast<const uint16_t*>(src);
#if COREML_HWY_NATIVE_F16
  const hn::Rebind<hwy::float16_t, D> dh;
  const auto* h = reinterpret_cast<const hwy::float16_t*>(s);
  for (; i < whole; i += lanes) hn::StoreU(hn::PromoteTo(d, hn::LoadU(dh, h + i)), d, dst + i);
  if (i < n) kernels::HWY_NAMESPACE::PartialVectorFromHalf(d, s + i, dst + i, n - i);
#else
  (void)whole;
  for (; i < n; ++i) dst[i] = fp16_to_float(s[i]);
#endif
}

// With c.reuse_padding, only the input lines are written: the padding lines and columns are
// still zero from the previous channel (a line's whole-vector overrun is zeroed again right
// after it), which saves two short zero fills per line (library calls, for most lines).
template <class D>
void Pad(D d, const DepthwiseChannel& c, float* padded) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const PaddedLines lines(c, lanes);
  const int64_t used = lines.used, left = lines.left, width = lines.width;
  const int64_t first = std::clamp<int64_t>(c.top, 0, c.padded_h);
  const int64_t last = std::clamp<int64_t>(c.top + c.in_h, first, c.padded_h);
  if (!c.reuse_padding) {
    for (int64_t line = 0; line < first; ++line) Zero(d, padded + line * c.line_stride, used);
    for (int64_t line = last; line < c.padded_h; ++line) {
      Zero(d, padded + line * c.line_stride, used);
    }
  }
  for (int64_t line = first; line < last; ++line) {
    float* dst = padded + line * c.line_stride;
    const int64_t ih = line - c.top;
    // Whole vectors when the read stays inside the plane (it runs into the next lines) and a
    // padded line follows: the write runs into this line's right padding (zeroed below) and
    // at most lanes - 1 < used floats of the next padded line, written after this one.
    const int64_t read_end = ih * c.in_w + (width + lanes - 1) / lanes * lanes;
    const bool overrun = read_end <= c.in_h * c.in_w && line + 1 < c.padded_h;
    if (!c.reuse_padding) Zero(d, dst, left);
    Widen(d, input_line(c, ih), c.half, dst + left, width, overrun);
    if (!c.reuse_padding) {
      Zero(d, dst + left + width, used - left - width);
    } else if (overrun) {
      // The overrun wrote [left + width, left + width + lanes - 1) at most: inside this line's
      // padding, or the next line's left padding (zero again here) and values rewritten later.
      // One zero vector; with no right padding it may reach the next line (rewritten later).
      hn::StoreU(hn::Zero(d), d, dst + left + width);
    }
  }
}

// Input line `src` (`width` values, fp16 when `is_half`) into a split line (split_half) that
// starts `left` columns ahead of it: column iw is padded column iw + left, even or odd. Pairs
// of input vectors are de-interleaved in registers, the last, partial pair as well (loaded in
// part, zeros past the line): no read past the line, and no write past its values but zeros.
// With `zero`, the padding around them is zeroed (else it is still zero from a line of the
// same geometry).
template <class D>
HWY_INLINE void SplitLine(D d, const void* src, bool is_half, int64_t width, int64_t left,
                          int64_t half, bool zero, float* even) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  using V = hn::Vec<D>;
  float* odd = even + half;
  // Input columns 2q and 2q + 1 land in halves at q + left / 2 (+ 1 for the odd column when
  // left is odd: it wraps to the even half's next pair).
  const int64_t shift = left / 2;
  const bool odd_left = left % 2 == 1;
  float* from_even = (odd_left ? odd : even) + shift;
  float* from_odd = (odd_left ? even + 1 : odd) + shift;
  // Two input vectors (columns 2q to 2q + 2 lanes) to their halves.
  const auto split = [&](V lo, V hi, int64_t q) {
#if HWY_TARGET == HWY_SCALAR
    hn::StoreU(lo, d, from_even + q);
    hn::StoreU(hi, d, from_odd + q);
#else
    hn::StoreU(hn::ConcatEven(d, hi, lo), d, from_even + q);
    hn::StoreU(hn::ConcatOdd(d, hi, lo), d, from_odd + q);
#endif
  };
  // Values [at, at + n) of the line, n <= lanes, as fp32 (zeros past them).
  const auto load = [&](const auto* line, int64_t at, int64_t n) {
    if (n == lanes) {
      if constexpr (std::is_same_v<std::remove_cv_t<std::remove_pointer_t<decltype(line)>>,
                                   float>) {
        return hn::LoadU(d, line + at);
      } else {
        const hn::Rebind<hwy::float16_t, D> dh;
        return hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(line) + at));
      }
    }
    return kernels::HWY_NAMESPACE::LoadPart(d, line + at, static_cast<size_t>(n));
  };
  const auto split_all = [&](const auto* line) {
    int64_t q = 0;
    for (; 2 * (q + lanes) <= width; q += lanes) {
      split(load(line, 2 * q, lanes), load(line, 2 * q + lanes, lanes), q);
    }
    if (const int64_t rest = width - 2 * q; rest > lanes) {
      split(load(line, 2 * q, lanes), load(line, 2 * q + lanes, rest - lanes), q);
    } else if (rest > 0) {
      split(load(line, 2 * q, rest), hn::Zero(d), q);
    }
  };
  if (!is_half) {
    split_all(static_cast<const float*>(src));
  } else {
    const auto* s = static_cast<const uint16_t*>(src);
#if COREML_HWY_NATIVE_F16
    split_all(s);
#else
    // fp16 converts in hardware only where COREML_HWY_NATIVE_F16: one by one elsewhere.
    for (int64_t iw = 0; iw < width; ++iw) {
      float* to = iw % 2 == 1 ? from_odd : from_even;
      to[iw / 2] = fp16_to_float(s[iw]);
    }
#endif
  }
  if (zero) {
    const int64_t even_end = odd_left ? shift + 1 + width / 2 : shift + (width + 1) / 2;
    const int64_t odd_end = odd_left ? shift + (width + 1) / 2 : shift + width / 2;
    Zero(d, even, shift + (odd_left ? 1 : 0));
    Zero(d, odd, shift);
    Zero(d, even + even_end, half - even_end);
    Zero(d, odd + odd_end, half - odd_end);
  }
}

// Pad for split lines (split_half), lines [from, to) of the plane: each input line split
// straight into its place; the zero lines above and below, and the padding around each line's
// values, are written unless c.reuse_padding says they are still zero.
template <class D>
void PadSplit(D d, const DepthwiseChannel& c, int64_t half, int64_t from, int64_t to,
              float* padded) {
  const PaddedLines lines(c, static_cast<int64_t>(hn::Lanes(d)));
  for (int64_t line = from; line < to; ++line) {
    const int64_t ih = line - c.top;
    float* dst = padded + line * c.line_stride;
    if (ih < 0 || ih >= c.in_h) {
      if (!c.reuse_padding) Zero(d, dst, 2 * half);
      continue;
    }
    SplitLine(d, input_line(c, ih), c.half, lines.width, lines.left, half, !c.reuse_padding, dst);
  }
}

// kRows output rows of a K x K, stride 2, undilated kernel, starting at row oh: one vector of
// outputs per row at a time, the taps unrolled. Vectors go right to left and rows top to bottom,
// so a row's last vector, which runs into the next row, is overwritten by that row's first.
template <int K, int kRows>
HWY_INLINE void Stride2Rows(const DepthwiseChannel& c, const float* padded, int64_t oh,
                            float* out) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const float* w = c.weights;
  for (int64_t ow = (c.out_w - 1) / lanes * lanes; ow >= 0; ow -= lanes) {
    V acc[kRows];
    for (int r = 0; r < kRows; ++r) acc[r] = hn::Set(d, c.bias);
    for (int kh = 0; kh < K; ++kh) {
      for (int r = 0; r < kRows; ++r) {
        const float* src = padded + ((oh + r) * 2 + kh) * c.line_stride + ow * 2;
        // Tap kw reads src[2i + kw]: the even lanes of a pair load at src + kw (kw even) or
        // the odd lanes of the one at src + kw - 1 (kw odd): one pair load per two taps.
        for (int kw = 0; kw < K; kw += 2) {
          V even, odd;
          hn::LoadInterleaved2(d, src + kw, even, odd);
          acc[r] = hn::MulAdd(hn::Set(d, w[kh * K + kw]), even, acc[r]);
          if (kw + 1 < K) acc[r] = hn::MulAdd(hn::Set(d, w[kh * K + kw + 1]), odd, acc[r]);
        }
      }
    }
    for (int r = 0; r < kRows; ++r) hn::StoreU(acc[r], d, out + (oh + r) * c.out_w + ow);
  }
}

// kRows output rows of a K x K undilated kernel at stride S, starting at row oh, organised by
// input line instead of by output row: the rows read S (kRows - 1) + K input lines, so each
// shifted input vector is loaded once and feeds every row it belongs to (at stride 1, for 5x5
// and four rows, 40 loads for 100 FMAs instead of 100), and the weights come in as vectors set
// once per plane (`taps`), not broadcast from memory per FMA (the stores to `out` may alias the
// weights, so the compiler cannot hoist those loads). Stride 1 reads padded lines; stride 2
// split ones (PadSplit: tap kw at kw / 2, in the odd half from `half` on when kw is odd), with
// no load needing a shuffle. Each row sums its taps in the order (kh, then kw) of Stride2Rows
// and the per-row loops before: the same results.
template <int K, int kRows, int S, class V>
HWY_INLINE void LineRows(const DepthwiseChannel& c, const float* padded, int64_t half, int64_t oh,
                         const V* taps, float* out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const V bias = hn::Set(d, c.bias);
  for (int64_t ow = (c.out_w - 1) / lanes * lanes; ow >= 0; ow -= lanes) {
    V acc[kRows];
    for (int r = 0; r < kRows; ++r) acc[r] = bias;
    // Unrolled whole (the compiler would otherwise keep the kh test at run time).
    HWY_UNROLL(11)
    for (int line = 0; line < S * (kRows - 1) + K; ++line) {
      const float* src = padded + (S * oh + line) * c.line_stride + ow;
      HWY_UNROLL(5)
      for (int kw = 0; kw < K; ++kw) {
        const V v = hn::LoadU(d, S == 1 ? src + kw : src + (kw % 2 == 1 ? half : 0) + kw / 2);
        HWY_UNROLL(4)
        for (int r = 0; r < kRows; ++r) {
          const int kh = line - S * r;
          if (kh >= 0 && kh < K) acc[r] = hn::MulAdd(taps[kh * K + kw], v, acc[r]);
        }
      }
    }
    for (int r = 0; r < kRows; ++r) hn::StoreU(acc[r], d, out + (oh + r) * c.out_w + ow);
  }
}

// A K x K undilated kernel at stride S (1 or 2), four output rows at a time, then the rest at
// once (each row count its own FMA chains).
template <int K, int S>
void FixedPlane(const DepthwiseChannel& c, const float* padded, float* out) {
  int64_t oh = 0;
  if constexpr (S == 1) {
    const hn::ScalableTag<float> d;
    hn::Vec<decltype(d)> taps[K * K];
    for (int i = 0; i < K * K; ++i) taps[i] = hn::Set(d, c.weights[i]);
    for (; oh + 4 <= c.out_h; oh += 4) LineRows<K, 4, 1>(c, padded, 0, oh, taps, out);
    // The last rows together too (7x7 and 14x14 planes leave 3 and 2): they share lines.
    if (c.out_h - oh == 3) LineRows<K, 3, 1>(c, padded, 0, oh, taps, out);
    if (c.out_h - oh == 2) LineRows<K, 2, 1>(c, padded, 0, oh, taps, out);
    if (c.out_h - oh == 1) LineRows<K, 1, 1>(c, padded, 0, oh, taps, out);
    return;
  }
  for (; oh + 4 <= c.out_h; oh += 4) Stride2Rows<K, 4>(c, padded, oh, out);
  if (c.out_h - oh == 3) Stride2Rows<K, 3>(c, padded, oh, out);
  if (c.out_h - oh == 2) Stride2Rows<K, 2>(c, padded, oh, out);
  if (c.out_h - oh == 1) Stride2Rows<K, 1>(c, padded, oh, out);
}

// A K x K undilated kernel at stride 2: the plane padded into split lines (PadSplit) just ahead
// of the output rows that read them, four rows at a time, so the lines are still in L1 when
// read (a 112-wide plane padded whole is ~100 KB).
template <int K>
void SplitStride2Plane(const DepthwiseChannel& c, float* padded, int64_t half, float* out) {
  const hn::ScalableTag<float> d;
  hn::Vec<decltype(d)> taps[K * K];
  for (int i = 0; i < K * K; ++i) taps[i] = hn::Set(d, c.weights[i]);
  int64_t oh = 0, ready = 0;  // lines [0, ready) are padded
  const auto pad_for = [&](int64_t rows) {
    const int64_t need = std::min(c.padded_h, 2 * (oh + rows - 1) + K);
    PadSplit(d, c, half, ready, need, padded);
    ready = std::max(ready, need);
  };
  for (; oh + 4 <= c.out_h; oh += 4) {
    pad_for(4);
    LineRows<K, 4, 2>(c, padded, half, oh, taps, out);
  }
  pad_for(c.out_h - oh);
  if (c.out_h - oh == 3) LineRows<K, 3, 2>(c, padded, half, oh, taps, out);
  if (c.out_h - oh == 2) LineRows<K, 2, 2>(c, padded, half, oh, taps, out);
  if (c.out_h - oh == 1) LineRows<K, 1, 2>(c, padded, half, oh, taps, out);
  // Lines no row reads (a padded_h past the last row's reach) still get their zero padding:
  // a later channel reusing it relies on every line being written once.
  PadSplit(d, c, half, ready, c.padded_h, padded);
}

// Rows top to bottom, vectors left to right: a row's last vector runs into the next row,
// computed afterwards.
void GenericPlane(const DepthwiseChannel& c, const float* padded, float* out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t oh = 0; oh < c.out_h; ++oh) {
    for (int64_t ow = 0; ow < c.out_w; ow += lanes) {
      auto acc = hn::Set(d, c.bias);
      for (int64_t kh = 0; kh < c.kernel_h; ++kh) {
        const float* w = c.weights + kh * c.kernel_w;
        const float* base =
            padded + (oh * c.stride_h + kh * c.dilation_h) * c.line_stride + ow * c.stride_w;
        for (int64_t kw = 0; kw < c.kernel_w; ++kw) {
          const float* src = base + kw * c.dilation_w;
          if (c.stride_w == 1) {
            acc = hn::MulAdd(hn::Set(d, w[kw]), hn::LoadU(d, src), acc);
          } else if (c.stride_w == 2) {
            hn::Vec<decltype(d)> even, odd;
            hn::LoadInterleaved2(d, src, even, odd);  // even: src[0], src[2], ...
            acc = hn::MulAdd(hn::Set(d, w[kw]), even, acc);
          } else {
            HWY_ALIGN float gathered[hn::MaxLanes(d)];
            for (int64_t i = 0; i < lanes; ++i) gathered[i] = src[i * c.stride_w];
            acc = hn::MulAdd(hn::Set(d, w[kw]), hn::Load(d, gathered), acc);
          }
        }
      }
      hn::StoreU(acc, d, out + oh * c.out_w + ow);
    }
  }
}

void DepthwiseChannelSimd(const DepthwiseChannel& c, float* padded, float* out) {
  const hn::ScalableTag<float> d;
  const bool square = c.kernel_h == c.kernel_w && c.stride_h == c.stride_w && c.dilation_h == 1 &&
                      c.dilation_w == 1;
  if (square && c.stride_h == 2 && (c.kernel_h == 3 || c.kernel_h == 5)) {
    if (const int64_t half = split_half(c, static_cast<int64_t>(hn::Lanes(d))); half > 0) {
      if (c.kernel_h == 3) return SplitStride2Plane<3>(c, padded, half, out);
      return SplitStride2Plane<5>(c, padded, half, out);
    }
  }
  Pad(d, c, padded);
  if (square && c.kernel_h == 3 && c.stride_h == 1) return FixedPlane<3, 1>(c, padded, out);
  if (square && c.kernel_h == 3 && c.stride_h == 2) return FixedPlane<3, 2>(c, padded, out);
  if (square && c.kernel_h == 5 && c.stride_h == 1) return FixedPlane<5, 1>(c, padded, out);
  if (square && c.kernel_h == 5 && c.stride_h == 2) return FixedPlane<5, 2>(c, padded, out);
  GenericPlane(c, padded, out);
}

}  // namespace coreml::kernels::linalg::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels::linalg {
HWY_EXPORT(DepthwiseChannelSimd);

void depthwise_channel(const DepthwiseChannel& c, float* padded, float* out) {
  if (simd_enabled()) {
    HWY_DYNAMIC_DISPATCH(DepthwiseChannelSimd)(c, padded, out);
    return;
  }
  const PaddedLines lines(c, 1);
  for (int64_t line = 0; line < c.padded_h; ++line) {
    float* dst = padded + line * c.line_stride;
    std::fill(dst, dst + lines.used, 0.0f);
    const int64_t ih = line - c.top;
    if (ih < 0 || ih >= c.in_h) continue;
    for (int64_t iw = 0; iw < lines.width; ++iw) {
      const int64_t at = ih * c.in_w + iw;
      dst[lines.left + iw] = c.half ? fp16_to_float(static_cast<const uint16_t*>(c.input)[at])
                                    : static_cast<const float*>(c.input)[at];
    }
  }
  for (int64_t oh = 0; oh < c.out_h; ++oh) {
    for (int64_t ow = 0; ow < c.out_w; ++ow) {
      float sum = c.bias;
      for (int64_t kh = 0; kh < c.kernel_h; ++kh) {
        const float* line =
            padded + (oh * c.stride_h + kh * c.dilation_h) * c.line_stride + ow * c.stride_w;
        for (int64_t kw = 0; kw < c.kernel_w; ++kw) {
          sum += c.weights[kh * c.kernel_w + kw] * line[kw * c.dilation_w];
        }
      }
      out[oh * c.out_w + ow] = sum;
    }
  }
}

}  // namespace coreml::kernels::linalg
#endif
