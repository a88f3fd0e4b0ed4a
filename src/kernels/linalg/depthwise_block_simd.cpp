// Compiled once per SIMD target by Highway's foreach_target (see depthwise_block_simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/depthwise_block_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "kernels/linalg/depthwise_block_simd.h"

#include <algorithm>
#include <cstring>

#include "kernels/common/hwy_interleave.h"
#include "kernels/common/hwy_tail.h"

#ifndef COREML_DEPTHWISE_BLOCK_SIMD_SHARED
#define COREML_DEPTHWISE_BLOCK_SIMD_SHARED
namespace coreml::kernels::linalg {
namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace
}  // namespace coreml::kernels::linalg
#endif  // COREML_DEPTHWISE_BLOCK_SIMD_SHARED

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using kernels::HWY_NAMESPACE::StorePart;

int64_t BlockLanes() { return static_cast<int64_t>(hn::Lanes(hn::ScalableTag<float>())); }

// The block's input planes, position-major ([in_h * in_w][lanes], lanes past `channels` zero),
// into staging; returns where.
template <class D>
const float* ToPositions(D d, const DepthwiseBlock& b, float* staging) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t positions = b.in_h * b.in_w;
  const float* planes[16];  // lanes is 8 or 16 (InterleavesLanes)
  for (int64_t j = 0; j < lanes; ++j) {
    planes[j] = j < b.channels ? b.input + b.plane_offsets[j] : nullptr;
  }
  float* rows = staging + kernels::HWY_NAMESPACE::InterleaveStaging(positions, lanes);
  kernels::HWY_NAMESPACE::InterleaveSequences(d, planes, positions, staging, rows);
  return rows;
}

// The block's input, position-major, zero outside the input and past the block's channels.
template <class D>
void FillPadded(D d, const DepthwiseBlock& b, float* padded, float* staging) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  if (!b.reuse_padding) {
    std::memset(padded, 0, static_cast<size_t>(b.padded_h * b.padded_w * lanes) * sizeof(float));
  }
  const int64_t ih0 = std::max<int64_t>(0, -b.top), ih1 = std::min(b.in_h, b.padded_h - b.top);
  const int64_t iw0 = std::max<int64_t>(0, -b.left), iw1 = std::min(b.in_w, b.padded_w - b.left);
  if (ih0 >= ih1 || iw0 >= iw1) return;
  if (kernels::HWY_NAMESPACE::InterleavesLanes(d)) {
    const float* rows = ToPositions(d, b, staging);
    for (int64_t ih = ih0; ih < ih1; ++ih) {
      const float* src = rows + (ih * b.in_w + iw0) * lanes;
      float* dst = padded + ((ih + b.top) * b.padded_w + iw0 + b.left) * lanes;
      for (int64_t k = 0; k < (iw1 - iw0) * lanes; k += lanes) {
        hn::StoreU(hn::LoadU(d, src + k), d, dst + k);
      }
    }
    return;
  }
  for (int64_t j = 0; j < b.channels; ++j) {
    const float* plane = b.input + b.plane_offsets[j];
    for (int64_t ih = ih0; ih < ih1; ++ih) {
      float* dst = padded + ((ih + b.top) * b.padded_w + b.left) * lanes + j;
      const float* src = plane + ih * b.in_w;
      for (int64_t iw = iw0; iw < iw1; ++iw) dst[iw * lanes] = src[iw];
    }
  }
}

// kCount outputs of row oh from column ow (stride_w apart in the input), each its own chain:
// any kernel, stride and dilation.
template <int kCount, class D>
HWY_INLINE void Outputs(D d, const DepthwiseBlock& b, const float* padded, hn::Vec<D> bias,
                        int64_t oh, int64_t ow, float* out) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<D> acc[kCount];
  for (int i = 0; i < kCount; ++i) acc[i] = bias;
  for (int64_t kh = 0; kh < b.kernel_h; ++kh) {
    const float* line =
        padded + ((oh * b.stride_h + kh * b.dilation_h) * b.padded_w + ow * b.stride_w) * lanes;
    for (int64_t kw = 0; kw < b.kernel_w; ++kw) {
      const auto w = hn::LoadU(d, b.taps + (kh * b.kernel_w + kw) * lanes);
      const float* src = line + kw * b.dilation_w * lanes;
      for (int i = 0; i < kCount; ++i) {
        acc[i] = hn::MulAdd(w, hn::LoadU(d, src + i * b.stride_w * lanes), acc[i]);
      }
    }
  }
  for (int i = 0; i < kCount; ++i) hn::StoreU(acc[i], d, out + (oh * b.out_w + ow + i) * lanes);
}

template <class D>
void AnyRows(D d, const DepthwiseBlock& b, const float* padded, hn::Vec<D> bias, float* out) {
  // Four outputs at a time, the last one to three together: independent FMA chains hide the
  // FMA latency (one chain per output would wait on each of its taps).
  for (int64_t oh = 0; oh < b.out_h; ++oh) {
    int64_t ow = 0;
    for (; ow + 4 <= b.out_w; ow += 4) Outputs<4>(d, b, padded, bias, oh, ow, out);
    switch (b.out_w - ow) {
      case 3: Outputs<3>(d, b, padded, bias, oh, ow, out); break;
      case 2: Outputs<2>(d, b, padded, bias, oh, ow, out); break;
      case 1: Outputs<1>(d, b, padded, bias, oh, ow, out); break;
      default: break;
    }
  }
}

// A whole output row of kWidth outputs, K x K undilated taps at stride S, by input column: each
// of the row's (kWidth - 1) S + K input vectors of a kernel line is loaded once and feeds every
// output that reads it, and the line's K taps are loaded once (Outputs loads a tap vector and
// an input vector per FMA). Each output still sums its taps in the order (kh, then kw).
template <int K, int S, int kWidth, class D>
HWY_INLINE void FixedRow(D d, const DepthwiseBlock& b, const float* padded, hn::Vec<D> bias,
                         int64_t oh, int64_t ow, float* out) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<D> acc[kWidth];
  for (int i = 0; i < kWidth; ++i) acc[i] = bias;
  for (int kh = 0; kh < K; ++kh) {
    const float* line = padded + ((oh * S + kh) * b.padded_w + ow * S) * lanes;
    hn::Vec<D> w[K];
    for (int kw = 0; kw < K; ++kw) w[kw] = hn::LoadU(d, b.taps + (kh * K + kw) * lanes);
    hn::Vec<D> v[(kWidth - 1) * S + K];
    for (int m = 0; m < (kWidth - 1) * S + K; ++m) v[m] = hn::LoadU(d, line + m * lanes);
    for (int i = 0; i < kWidth; ++i) {
      for (int kw = 0; kw < K; ++kw) acc[i] = hn::MulAdd(w[kw], v[i * S + kw], acc[i]);
    }
  }
  for (int i = 0; i < kWidth; ++i) hn::StoreU(acc[i], d, out + (oh * b.out_w + ow + i) * lanes);
}

template <int K, int S, int kWidth, class D>
void FixedRows(D d, const DepthwiseBlock& b, const float* padded, hn::Vec<D> bias, float* out) {
  for (int64_t oh = 0; oh < b.out_h; ++oh) FixedRow<K, S, kWidth>(d, b, padded, bias, oh, 0, out);
}

// Rows wider than 8 (14 x 14 planes) in pieces of 7 and the rest: all of a piece's values stay
// in registers (7 sums, 5 taps and at stride 2 up to 17 input vectors).
template <int K, int S, class D>
void ChunkedRows(D d, const DepthwiseBlock& b, const float* padded, hn::Vec<D> bias, float* out) {
  for (int64_t oh = 0; oh < b.out_h; ++oh) {
    int64_t ow = 0;
    for (; ow + 7 <= b.out_w; ow += 7) FixedRow<K, S, 7>(d, b, padded, bias, oh, ow, out);
    switch (b.out_w - ow) {
      case 1: FixedRow<K, S, 1>(d, b, padded, bias, oh, ow, out); break;
      case 2: FixedRow<K, S, 2>(d, b, padded, bias, oh, ow, out); break;
      case 3: FixedRow<K, S, 3>(d, b, padded, bias, oh, ow, out); break;
      case 4: FixedRow<K, S, 4>(d, b, padded, bias, oh, ow, out); break;
      case 5: FixedRow<K, S, 5>(d, b, padded, bias, oh, ow, out); break;
      case 6: FixedRow<K, S, 6>(d, b, padded, bias, oh, ow, out); break;
      default: break;
    }
  }
}

// Rows of 1 to 8 outputs whole (FixedRows), wider ones in pieces (ChunkedRows).
template <int K, int S, class D>
void FixedWidth(D d, const DepthwiseBlock& b, const float* padded, hn::Vec<D> bias, float* out) {
  switch (b.out_w) {
    case 1: FixedRows<K, S, 1>(d, b, padded, bias, out); break;
    case 2: FixedRows<K, S, 2>(d, b, padded, bias, out); break;
    case 3: FixedRows<K, S, 3>(d, b, padded, bias, out); break;
    case 4: FixedRows<K, S, 4>(d, b, padded, bias, out); break;
    case 5: FixedRows<K, S, 5>(d, b, padded, bias, out); break;
    case 6: FixedRows<K, S, 6>(d, b, padded, bias, out); break;
    case 7: FixedRows<K, S, 7>(d, b, padded, bias, out); break;
    case 8: FixedRows<K, S, 8>(d, b, padded, bias, out); break;
    default: ChunkedRows<K, S>(d, b, padded, bias, out); break;
  }
}

// Undilated square 3x3 and 5x5 kernels at strides 1 and 2 by unrolled rows; false for others.
template <class D>
bool FixedKernel(D d, const DepthwiseBlock& b, const float* padded, hn::Vec<D> bias, float* out) {
  if (b.kernel_h != b.kernel_w || b.stride_h != b.stride_w || b.dilation_h != 1 ||
      b.dilation_w != 1) {
    return false;
  }
  const int64_t k = b.kernel_h, s = b.stride_h;
  if (k == 3 && s == 1) {
    FixedWidth<3, 1>(d, b, padded, bias, out);
  } else if (k == 3 && s == 2) {
    FixedWidth<3, 2>(d, b, padded, bias, out);
  } else if (k == 5 && s == 1) {
    FixedWidth<5, 1>(d, b, padded, bias, out);
  } else if (k == 5 && s == 2) {
    FixedWidth<5, 2>(d, b, padded, bias, out);
  } else {
    return false;
  }
  return true;
}

void DepthwiseBlockSimd(const DepthwiseBlock& b, float* padded, float* staging, float* out) {
  const hn::ScalableTag<float> d;
  FillPadded(d, b, padded, staging);
  const auto bias = hn::LoadU(d, b.bias);
  if (!FixedKernel(d, b, padded, bias, out)) AnyRows(d, b, padded, bias, out);
}

// The inverse of ToPositions: de-interleaving the g sequences, then each sequence's four
// channels.
void BlockColumns(const float* block, int64_t positions, int64_t channels, float* staging,
                  float* out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = BlockLanes();
  // Blocks of 8 or 16 lanes move through registers (hwy_interleave.h, here its inverse); other
  // widths value by value.
  if (!kernels::HWY_NAMESPACE::InterleavesLanes(d)) {
    for (int64_t j = 0; j < channels; ++j) {
      for (int64_t q = 0; q < positions; ++q) out[j * positions + q] = block[q * lanes + j];
    }
    return;
  }
  const int64_t g = lanes / 4;
  const int64_t sequence = round_up(positions, lanes) * 4;
  for (int64_t m = 0; m < positions * 4; m += lanes) {
    hn::Vec<decltype(d)> v0, v1, v2, v3;
    if (g == 4) {
      hn::LoadInterleaved4(d, block + m * 4, v0, v1, v2, v3);
      hn::StoreU(v2, d, staging + 2 * sequence + m);
      hn::StoreU(v3, d, staging + 3 * sequence + m);
    } else {
      hn::LoadInterleaved2(d, block + m * 2, v0, v1);
    }
    hn::StoreU(v0, d, staging + m);
    hn::StoreU(v1, d, staging + sequence + m);
  }
  for (int64_t j = 0; j < g; ++j) {
    const float* from = staging + j * sequence;
    for (int64_t i = 0; i < positions; i += lanes) {
      const int64_t n = std::min(lanes, positions - i);
      hn::Vec<decltype(d)> v[4];
      hn::LoadInterleaved4(d, from + i * 4, v[0], v[1], v[2], v[3]);
      for (int64_t c = 0; c < 4; ++c) {
        const int64_t channel = j + g * c;
        if (channel >= channels) continue;
        float* to = out + channel * positions + i;
        if (n == lanes) {
          hn::StoreU(v[c], d, to);
        } else {
          StorePart(d, v[c], to, static_cast<size_t>(n));
        }
      }
    }
  }
}

}  // namespace coreml::kernels::linalg::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels::linalg {
HWY_EXPORT(BlockLanes);
HWY_EXPORT(DepthwiseBlockSimd);
HWY_EXPORT(BlockColumns);

int64_t depthwise_block_lanes() { return HWY_DYNAMIC_DISPATCH(BlockLanes)(); }

int64_t depthwise_block_staging(int64_t positions, int64_t lanes) {
  return 2 * round_up(positions, lanes) * lanes;
}

DepthwiseBlockTaps depthwise_block_taps(const std::vector<float>& weights,
                                        const std::vector<float>& bias, int64_t channels,
                                        int64_t kernel_size, int64_t lanes) {
  const int64_t blocks = (channels + lanes - 1) / lanes;
  DepthwiseBlockTaps t;
  t.taps.assign(static_cast<size_t>(blocks * kernel_size * lanes), 0.0f);
  t.bias.assign(static_cast<size_t>(blocks * lanes), 0.0f);
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t q = c / lanes, j = c % lanes;
    for (int64_t k = 0; k < kernel_size; ++k) {
      t.taps[static_cast<size_t>((q * kernel_size + k) * lanes + j)] =
          weights[static_cast<size_t>(c * kernel_size + k)];
    }
    if (!bias.empty()) t.bias[static_cast<size_t>(c)] = bias[static_cast<size_t>(c)];
  }
  return t;
}

std::vector<float> depthwise_channel_taps(const DepthwiseBlockTaps& blocked, int64_t channels,
                                          int64_t kernel_size, int64_t lanes) {
  std::vector<float> weights(static_cast<size_t>(channels * kernel_size));
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t q = c / lanes, j = c % lanes;
    for (int64_t k = 0; k < kernel_size; ++k) {
      weights[static_cast<size_t>(c * kernel_size + k)] =
          blocked.taps[static_cast<size_t>((q * kernel_size + k) * lanes + j)];
    }
  }
  return weights;
}

void depthwise_block_columns(const float* block, int64_t positions, int64_t channels,
                             float* staging, float* out) {
  HWY_DYNAMIC_DISPATCH(BlockColumns)(block, positions, channels, staging, out);
}

void depthwise_block(const DepthwiseBlock& b, float* padded, float* staging, float* out) {
  HWY_DYNAMIC_DISPATCH(DepthwiseBlockSimd)(b, padded, staging, out);
}

}  // namespace coreml::kernels::linalg
#endif
