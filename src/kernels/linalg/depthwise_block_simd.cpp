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

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

int64_t BlockLanes() { return static_cast<int64_t>(hn::Lanes(hn::ScalableTag<float>())); }

// The block's input, position-major, zero outside the input and past the block's channels.
void FillPadded(const DepthwiseBlock& b, int64_t lanes, float* padded) {
  if (!b.reuse_padding) {
    std::memset(padded, 0, static_cast<size_t>(b.padded_h * b.padded_w * lanes) * sizeof(float));
  }
  const int64_t ih0 = std::max<int64_t>(0, -b.top), ih1 = std::min(b.in_h, b.padded_h - b.top);
  const int64_t iw0 = std::max<int64_t>(0, -b.left), iw1 = std::min(b.in_w, b.padded_w - b.left);
  for (int64_t j = 0; j < b.channels; ++j) {
    const float* plane = b.input + b.plane_offsets[j];
    for (int64_t ih = ih0; ih < ih1; ++ih) {
      float* dst = padded + ((ih + b.top) * b.padded_w + b.left) * lanes + j;
      const float* src = plane + ih * b.in_w;
      for (int64_t iw = iw0; iw < iw1; ++iw) dst[iw * lanes] = src[iw];
    }
  }
}

// kCount outputs of row oh from column ow (stride_w apart in the input), each its own chain.
template <int kCount, class D>
HWY_INLINE void Outputs(D d, const DepthwiseBlock& b, int64_t lanes, const float* padded,
                        const float* taps, hn::Vec<D> bias, int64_t oh, int64_t ow, float* out) {
  hn::Vec<D> acc[kCount];
  for (int i = 0; i < kCount; ++i) acc[i] = bias;
  for (int64_t kh = 0; kh < b.kernel_h; ++kh) {
    const float* line =
        padded + ((oh * b.stride_h + kh * b.dilation_h) * b.padded_w + ow * b.stride_w) * lanes;
    for (int64_t kw = 0; kw < b.kernel_w; ++kw) {
      const auto w = hn::LoadU(d, taps + (kh * b.kernel_w + kw) * lanes);
      const float* src = line + kw * b.dilation_w * lanes;
      for (int i = 0; i < kCount; ++i) {
        acc[i] = hn::MulAdd(w, hn::LoadU(d, src + i * b.stride_w * lanes), acc[i]);
      }
    }
  }
  for (int i = 0; i < kCount; ++i) hn::StoreU(acc[i], d, out + (oh * b.out_w + ow + i) * lanes);
}

void DepthwiseBlockSimd(const DepthwiseBlock& b, float* padded, float* taps, float* out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = BlockLanes();
  const int64_t ksize = b.kernel_h * b.kernel_w;
  HWY_ALIGN float bias[hn::MaxLanes(d)] = {};
  for (int64_t t = 0; t < ksize; ++t) {
    for (int64_t j = 0; j < lanes; ++j) {
      taps[t * lanes + j] = j < b.channels ? b.weights[j * ksize + t] : 0.0f;
    }
  }
  for (int64_t j = 0; j < b.channels && b.bias; ++j) bias[j] = b.bias[j];
  FillPadded(b, lanes, padded);
  const auto bias_v = hn::Load(d, bias);
  // Four outputs at a time, the last one to three together: independent FMA chains hide the
  // FMA latency (one chain per output would wait on each of its taps).
  for (int64_t oh = 0; oh < b.out_h; ++oh) {
    int64_t ow = 0;
    for (; ow + 4 <= b.out_w; ow += 4) Outputs<4>(d, b, lanes, padded, taps, bias_v, oh, ow, out);
    switch (b.out_w - ow) {
      case 3: Outputs<3>(d, b, lanes, padded, taps, bias_v, oh, ow, out); break;
      case 2: Outputs<2>(d, b, lanes, padded, taps, bias_v, oh, ow, out); break;
      case 1: Outputs<1>(d, b, lanes, padded, taps, bias_v, oh, ow, out); break;
      default: break;
    }
  }
}

void BlockColumns(const float* block, int64_t positions, int64_t channels, float* out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = BlockLanes();
#if HWY_TARGET <= HWY_AVX3
  // A gather per vector of one channel's results (positions lanes apart), one store.
  const auto index = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(lanes)));
  for (int64_t j = 0; j < channels; ++j) {
    float* to = out + j * positions;
    int64_t q = 0;
    for (; q + lanes <= positions; q += lanes) {
      hn::StoreU(hn::GatherIndex(d, block + q * lanes + j, index), d, to + q);
    }
    for (; q < positions; ++q) to[q] = block[q * lanes + j];
  }
#else
  (void)d, (void)di;
  for (int64_t j = 0; j < channels; ++j) {
    for (int64_t q = 0; q < positions; ++q) out[j * positions + q] = block[q * lanes + j];
  }
#endif
}

}  // namespace coreml::kernels::linalg::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels::linalg {
HWY_EXPORT(BlockLanes);
HWY_EXPORT(DepthwiseBlockSimd);
HWY_EXPORT(BlockColumns);

void depthwise_block_columns(const float* block, int64_t positions, int64_t channels, float* out) {
  HWY_DYNAMIC_DISPATCH(BlockColumns)(block, positions, channels, out);
}

int64_t depthwise_block_lanes() { return HWY_DYNAMIC_DISPATCH(BlockLanes)(); }

void depthwise_block(const DepthwiseBlock& b, float* padded, float* taps, float* out) {
  HWY_DYNAMIC_DISPATCH(DepthwiseBlockSimd)(b, padded, taps, out);
}

}  // namespace coreml::kernels::linalg
#endif
