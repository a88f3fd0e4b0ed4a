// Linalg kernel internals: the SIMD dot blocks against the scalar path and a double-precision
// reference, fp16 row conversion, compressed weights read block by block through RowSource,
// and einsum forms beyond the ones coremltools' MIL op accepts (checked against
// hand-written loops).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <optional>
#include <random>

#include "kernels/common/convert_simd.h"
#include "kernels/common/simd.h"
#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/depthwise_block_simd.h"
#include "kernels/linalg/depthwise_simd.h"
#include "kernels/linalg/dot_block.h"
#include "kernels/linalg/linalg_ops.h"
#include "kernels/linalg/row_product.h"
#include "runtime/op_context.h"
#include "support/simd_targets.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// The fused conv activations (ConvActivation::apply, conv_epilogue*.cpp) against double
// formulas written out here, on every SIMD target and scalar (COREML_SIMD=0), at every length 0..70
// (whole vectors, pairs of vectors, the tail) with NaN, +-inf, subnormals and -0 among the values:
// the piecewise kinds exactly or within fp32 rounding, the smooth ones within a few ulp
// (gelu: also absolute ones), and nothing written past the end.
double activation_reference(const ConvActivation& a, double v) {
  using K = ConvActivation::Kind;
  const auto clamp = [](double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); };
  switch (a.kind) {
    case K::kNone: return v;
    case K::kRelu: return v < 0 ? 0 : v;
    case K::kRelu6: return clamp(v, 0, 6);
    case K::kClip: return clamp(v, a.alpha, a.beta);
    case K::kSigmoidHard: return clamp(a.alpha * v + a.beta, 0, 1);
    case K::kThresholdedRelu: return v < a.threshold ? 0 : v;
    case K::kHardSwish: {
      const double t = v < a.threshold ? 0 : v;
      return t * clamp(a.alpha * t + a.beta, 0, 1);
    }
    case K::kSigmoid: return 1 / (1 + std::exp(-v));
    case K::kSilu: return v / (1 + std::exp(-v));
    case K::kGelu: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case K::kGeluTanh:
      return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  }
  return v;
}

TEST(ConvActivation, EveryKindAndLengthMatchesDoubleFormulas) {
  using K = ConvActivation::Kind;
  std::vector<ConvActivation> kinds;
  for (const K kind : {K::kRelu, K::kRelu6, K::kSigmoid, K::kSilu, K::kGelu, K::kGeluTanh}) {
    kinds.push_back({.kind = kind});
  }
  kinds.push_back({.kind = K::kClip, .alpha = -1.5f, .beta = 2.5f});
  kinds.push_back({.kind = K::kSigmoidHard, .alpha = 0.2f, .beta = 0.5f});
  kinds.push_back({.kind = K::kThresholdedRelu, .threshold = 0.7f});
  kinds.push_back({.kind = K::kHardSwish, .alpha = 1.0f / 6, .beta = 0.5f, .threshold = -3.0f});
  kinds.push_back({.kind = K::kNone});
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> dist(-9.0f, 9.0f);
  std::vector<float> x(71);
  for (auto& v : x) v = dist(rng);
  // Specials spread so that each lands in the tail of some lengths and in whole vectors of others.
  const float specials[] = {NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f, -0.0f, 0.0f, 6.0f, -3.0f};
  for (size_t i = 0; i < std::size(specials); ++i) x[3 + 7 * i] = specials[i];
  coreml::testing::for_each_simd_target([&](bool simd) {
    for (const ConvActivation& a : kinds) {
      const bool piecewise = a.kind != K::kSigmoid && a.kind != K::kSilu && a.kind != K::kGelu &&
                             a.kind != K::kGeluTanh;
      for (int64_t n = 0; n <= 70; ++n) {
        std::vector<float> v(x.begin(), x.begin() + n);
        v.push_back(-7.0f);  // sentinel
        // To fp16 in one pass: the values above (checked against double below), each rounded
        // by the scalar conversion.
        std::vector<float> scratch(v.begin(), v.end());
        std::vector<uint16_t> half(static_cast<size_t>(n) + 1, 0x1234);
        a.apply_to_half(scratch.data(), half.data(), n);
        ASSERT_EQ(half.back(), 0x1234) << "wrote past the end, n " << n;
        std::vector<float> rounded(v.begin(), v.end());
        a.apply(rounded.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          const uint16_t want = float_to_fp16(rounded[static_cast<size_t>(i)]);
          const uint16_t got = half[static_cast<size_t>(i)];
          const bool both_nan = (want & 0x7fff) > 0x7c00 && (got & 0x7fff) > 0x7c00;
          ASSERT_TRUE(got == want || both_nan) << "fp16 n " << n << " i " << i << " kind "
                                               << static_cast<int>(a.kind) << " simd " << simd;
        }
        // Out of place (the depthwise conv's activate-and-store) gives the same values.
        std::vector<float> copy(static_cast<size_t>(n) + 1, -7.0f);
        a.apply(v.data(), copy.data(), n);
        a.apply(v.data(), n);
        ASSERT_EQ(v.back(), -7.0f) << "wrote past the end, n " << n;
        ASSERT_EQ(copy.back(), -7.0f) << "wrote past the end, n " << n;
        for (int64_t i = 0; i < n; ++i) {
          const float in_place = v[static_cast<size_t>(i)], out = copy[static_cast<size_t>(i)];
          ASSERT_TRUE(in_place == out || (std::isnan(in_place) && std::isnan(out))) << "n " << n;
        }
        for (int64_t i = 0; i < n; ++i) {
          const float got = v[static_cast<size_t>(i)];
          const double want = activation_reference(a, x[static_cast<size_t>(i)]);
          const auto where = ::testing::Message()
                             << "simd " << simd << " kind " << static_cast<int>(a.kind) << " n "
                             << n << " x " << x[static_cast<size_t>(i)];
          if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(got)) << where << " got " << got;
            continue;
          }
          if (std::isinf(want) ||
              (piecewise && a.kind != K::kSigmoidHard && a.kind != K::kHardSwish)) {
            ASSERT_EQ(got, static_cast<float>(want)) << where;  // comparisons only: exact
            continue;
          }
          // fp32 rounding of each step (a few ulp); for gelu, absolute terms: its erf
          // approximation, and 1 + tanh cancelling for gelu_tanh.
          const bool gelu = a.kind == K::kGelu || a.kind == K::kGeluTanh;
          const double tolerance = std::abs(want) * 5e-7 +
                                   (gelu ? 2e-7 * std::abs(x[static_cast<size_t>(i)]) : 0) + 1e-30;
          ASSERT_NEAR(got, want, tolerance) << where;
        }
      }
    }
  });
}

// The conv's block store (store_conv_rows_simd): rows of results with a bias per row, a
// residual and an activation, into rows of a wider output, fp32 and fp16, against the sum
// written out here in fp32 (its definition) and the double formulas above, and bit for bit
// against the row-by-row path (ConvActivation::apply); lengths up to four vectors and a
// tail, and nothing written between the rows or past the last one.
TEST(ConvActivation, BlockStoreMatchesRowByRowFormulas) {
  using K = ConvActivation::Kind;
  std::vector<ConvActivation> kinds = {{.kind = K::kNone}, {.kind = K::kRelu}, {.kind = K::kRelu6}};
  kinds.push_back({.kind = K::kClip, .alpha = -1.5f, .beta = 2.5f});
  kinds.push_back({.kind = K::kSigmoidHard, .alpha = 0.2f, .beta = 0.5f});
  kinds.push_back({.kind = K::kThresholdedRelu, .threshold = 0.7f});
  kinds.push_back({.kind = K::kHardSwish, .alpha = 1.0f / 6, .beta = 0.5f, .threshold = -3.0f});
  kinds.push_back({.kind = K::kSigmoid});
  kinds.push_back({.kind = K::kSilu});
  constexpr int64_t kRows = 3, kTileStride = 80, kOutStride = 77;
  std::vector<float> tile = random_values(kRows * kTileStride, 5);
  for (float& v : tile) v *= 8.0f;
  tile[2] = -0.0f;  // with no bias and no residual, -0 must stay -0
  tile[kTileStride + 17] = NAN;
  const std::vector<float> bias = {0.25f, -1.0f, 3.0f};
  std::vector<float> residual = random_values(kRows * kOutStride, 6);
  std::vector<uint16_t> residual_half(residual.size());
  for (size_t i = 0; i < residual.size(); ++i) {
    residual_half[i] = float_to_fp16(residual[i]);
    residual[i] = fp16_to_float(residual_half[i]);  // the same values in both types
  }
  int checked = 0;
  coreml::testing::for_each_simd_target([&](bool simd) {
    for (const ConvActivation& a : kinds) {
      for (const bool half : {false, true}) {
        for (const int parts : {0, 1, 2, 3}) {  // bit 0: bias, bit 1: residual
          // Tails of many lengths, and one to four whole vectors with and without a tail.
          for (const int64_t count : {0,  1,  2,  3,  5,  7,  8,  9,  11, 13, 15, 16,
                                      17, 31, 32, 33, 47, 48, 50, 63, 64, 65, 70, 77}) {
            ConvRowsStore s;
            s.tile = tile.data();
            s.tile_stride = kTileStride;
            s.rows = kRows;
            s.count = count;
            s.bias = parts & 1 ? bias.data() : nullptr;
            s.out_stride = kOutStride;
            s.half = half;
            std::vector<float> out32(kRows * kOutStride, -7.0f);
            std::vector<uint16_t> out16(kRows * kOutStride, 0x1234);
            s.out = half ? static_cast<void*>(out16.data()) : out32.data();
            if (parts & 2) {
              s.residual = half ? static_cast<const void*>(residual_half.data()) : residual.data();
            }
            if (!store_conv_rows_simd(a, s)) {
              ASSERT_TRUE(!simd || half) << "the fp32 block store runs on every SIMD target";
              continue;
            }
            ++checked;
            for (int64_t r = 0; r < kRows; ++r) {
              for (int64_t i = 0; i < kOutStride; ++i) {
                const size_t at = static_cast<size_t>(r * kOutStride + i);
                const auto where = ::testing::Message()
                                   << "kind " << static_cast<int>(a.kind) << " half " << half
                                   << " parts " << parts << " count " << count << " row " << r
                                   << " i " << i;
                if (i >= count) {
                  ASSERT_TRUE(half ? out16[at] == 0x1234 : out32[at] == -7.0f)
                      << "wrote outside the results, " << where;
                  continue;
                }
                float sum = tile[static_cast<size_t>(r * kTileStride + i)];
                if (parts & 1) sum += bias[static_cast<size_t>(r)];
                if (parts & 2) sum += residual[at];
                const auto want = static_cast<float>(activation_reference(a, sum));
                const float got = half ? fp16_to_float(out16[at]) : out32[at];
                const float want_stored = half ? fp16_to_float(float_to_fp16(want)) : want;
                // The row-by-row path (ConvActivation::apply) gives the same bits.
                float row_by_row = sum;
                a.apply(&row_by_row, 1);
                if (!half) {
                  ASSERT_TRUE(got == row_by_row || (std::isnan(got) && std::isnan(row_by_row)))
                      << where;
                }
                if (std::isnan(want)) {
                  ASSERT_TRUE(std::isnan(got)) << where;
                } else if (a.kind == K::kSigmoid || a.kind == K::kSilu) {
                  // a few ulp (fast_exp.h), then fp16's rounding
                  ASSERT_NEAR(got, want, std::abs(want) * (half ? 1e-3 : 5e-7) + 1e-30) << where;
                } else if (a.kind == K::kSigmoidHard || a.kind == K::kHardSwish) {
                  // alpha x + beta fused in one rounding, the reference in double
                  ASSERT_NEAR(got, want, std::abs(want) * (half ? 1e-3 : 5e-7) + 1e-6) << where;
                } else {
                  ASSERT_EQ(got, want_stored) << where;
                  ASSERT_EQ(std::signbit(got), std::signbit(want_stored)) << where;
                }
              }
            }
          }
        }
      }
    }
  });
  EXPECT_GT(checked, 0);
}

// One stride-2 K x K depthwise geometry, on every SIMD target and the scalar path: two channels
// through one padded buffer of NaNs (a read past what the padding writes shows), the second
// reusing the first's padding (as every channel after a task's first does), each against sums
// in double of what the kernel reads (fp16 input: the rounded values).
void check_stride2_channels(int64_t k, int64_t in_h, int64_t in_w, bool same, bool roomy,
                            bool half) {
  DepthwiseChannel c;
  c.half = half;
  c.in_h = in_h;
  c.in_w = in_w;
  c.top = c.left = same ? (k - 1) / 2 : 0;
  c.kernel_h = c.kernel_w = k;
  c.stride_h = c.stride_w = 2;
  c.out_h = (in_h + 2 * c.top - k) / 2 + 1;
  c.out_w = (in_w + 2 * c.left - k) / 2 + 1;
  c.padded_h = (c.out_h - 1) * 2 + k;
  // The contract's least line stride, or that plus the slack for split lines.
  c.line_stride = ((c.out_w + kDepthwiseRowPad - 1) / kDepthwiseRowPad * kDepthwiseRowPad - 1) * 2 +
                  k + 1 + (roomy ? kDepthwiseSplitSlack : 0);
  c.line_stride = std::max(c.line_stride, c.left + in_w);
  c.bias = 0.25f;
  coreml::testing::for_each_simd_target([&](bool) {
    SCOPED_TRACE(::testing::Message()
                 << k << "x" << k << " " << in_h << "x" << in_w << (same ? " same" : "")
                 << (roomy ? " roomy" : "") << (half ? " fp16" : ""));
    std::vector<float> padded(static_cast<size_t>(c.padded_h * c.line_stride), NAN);
    for (uint32_t channel = 0; channel < 2; ++channel) {
      std::vector<float> input = random_values(static_cast<size_t>(in_h * in_w), 11 + channel);
      std::vector<uint16_t> input16(input.size());
      for (size_t i = 0; i < input.size(); ++i) {
        input16[i] = float_to_fp16(input[i]);
        if (half) input[i] = fp16_to_float(input16[i]);
      }
      const std::vector<float> weights = random_values(static_cast<size_t>(k * k), 21 + channel);
      c.input = half ? static_cast<const void*>(input16.data()) : input.data();
      c.weights = weights.data();
      c.reuse_padding = channel > 0;
      std::vector<float> out(static_cast<size_t>(c.out_h * c.out_w + kDepthwiseRowPad), NAN);
      depthwise_channel(c, padded.data(), out.data());
      for (int64_t oh = 0; oh < c.out_h; ++oh) {
        for (int64_t ow = 0; ow < c.out_w; ++ow) {
          double exact = c.bias, magnitude = std::fabs(c.bias);
          for (int64_t kh = 0; kh < k; ++kh) {
            for (int64_t kw = 0; kw < k; ++kw) {
              const int64_t ih = oh * 2 + kh - c.top, iw = ow * 2 + kw - c.left;
              if (ih < 0 || ih >= in_h || iw < 0 || iw >= in_w) continue;
              const double p = static_cast<double>(weights[static_cast<size_t>(kh * k + kw)]) *
                               input[static_cast<size_t>(ih * in_w + iw)];
              exact += p;
              magnitude += std::fabs(p);
            }
          }
          ASSERT_NEAR(out[static_cast<size_t>(oh * c.out_w + ow)], exact, 1e-6 * magnitude)
              << "channel " << channel << ", output " << oh << ", " << ow;
        }
      }
    }
  });
}

// Stride-2 3x3 and 5x5 depthwise planes: the loops over lines stored split into even and odd
// columns, and (lines too short for that: the contract's least line stride at out_w = 64, or
// output rows of less than two vectors) the ones reading through de-interleaving loads. Narrow
// and wide, odd and even widths and heights (split lines ending in a partial pair of vectors
// shorter than, as long as and longer than one: 4, 8 and 9 floats past whole AVX2 pairs),
// "same" padding (odd and even left columns) and none, fp32 and fp16 input. Input lines of 40
// and 56 give rows of 17 to 28 outputs: 5x5 kernels split them on 16 lanes, 3x3 ones do not.
TEST(DepthwiseChannel, Stride2PlanesNarrowAndWideMatchDoubleSums) {
  for (int64_t k : {3, 5}) {
    for (int64_t in_w : {9, 30, 40, 56, 68, 72, 128, 601}) {
      for (int64_t in_h : {7, 10}) {
        for (bool same : {true, false}) {
          for (bool roomy : {true, false}) {
            check_stride2_channels(k, in_h, in_w, same, roomy, false);
            check_stride2_channels(k, in_h, in_w, same, roomy, true);
          }
        }
      }
    }
  }
}

// One depthwise geometry with channels in the lanes, on the targets that take blocks (8 or 16
// lanes: AVX2 and AVX-512; SSE4 and the scalar path never do): two blocks through one padded
// buffer and one staging area full of NaNs (a read of a value the fill did not write shows), the
// first full, the second partial with a channel multiplier of 2 and reusing the first's padding,
// each output against a sum in double of bias and taps times the input (zero outside it).
void check_depthwise_block(int64_t k, int64_t stride, int64_t dilation, int64_t out_w) {
  coreml::testing::for_each_simd_target([&](bool simd) {
    const int64_t lanes = simd ? depthwise_block_lanes() : 0;
    if (lanes < 8) return;
    SCOPED_TRACE(::testing::Message() << k << "x" << k << " stride " << stride << " dilation "
                                      << dilation << ", rows of " << out_w);
    const int64_t pad = dilation * (k - 1) / 2, out_h = 3;
    DepthwiseBlock b;
    b.in_h = out_h * stride;
    b.in_w = out_w * stride;
    b.top = b.left = pad;
    b.kernel_h = b.kernel_w = k;
    b.stride_h = b.stride_w = stride;
    b.dilation_h = b.dilation_w = dilation;
    b.out_h = out_h;
    b.out_w = out_w;
    // Only the lines and columns the outputs read: at stride 2 the input's last line and column
    // fall outside (the fill leaves them out).
    b.padded_h = (out_h - 1) * stride + dilation * (k - 1) + 1;
    b.padded_w = (out_w - 1) * stride + dilation * (k - 1) + 1;
    const int64_t in_size = b.in_h * b.in_w, ksize = k * k, channels = 2 * lanes - 3;
    const std::vector<float> input = random_values(static_cast<size_t>(lanes * in_size), 5);
    const std::vector<float> weights = random_values(static_cast<size_t>(channels * ksize), 6);
    const std::vector<float> bias = random_values(static_cast<size_t>(channels), 7);
    const DepthwiseBlockTaps taps = depthwise_block_taps(weights, bias, channels, ksize, lanes);
    std::vector<float> padded(static_cast<size_t>(b.padded_h * b.padded_w * lanes), NAN);
    std::vector<float> staging(static_cast<size_t>(depthwise_block_staging(in_size, lanes)), NAN);
    for (int64_t block = 0; block < 2; ++block) {
      // Block 0: channels 0..lanes-1 on planes 0..lanes-1; block 1: the rest, two per plane.
      std::vector<int64_t> offsets(static_cast<size_t>(lanes));
      for (int64_t j = 0; j < lanes; ++j) {
        offsets[static_cast<size_t>(j)] = (block == 0 ? j : j / 2) * in_size;
      }
      b.input = input.data();
      b.plane_offsets = offsets.data();
      b.channels = block == 0 ? lanes : channels - lanes;
      b.taps = taps.taps.data() + block * ksize * lanes;
      b.bias = taps.bias.data() + block * lanes;
      b.reuse_padding = block == 1;
      std::vector<float> out(static_cast<size_t>(out_h * out_w * lanes), NAN);
      depthwise_block(b, padded.data(), staging.data(), out.data());
      for (int64_t j = 0; j < b.channels; ++j) {
        const int64_t channel = block * lanes + j;
        const float* plane = input.data() + offsets[static_cast<size_t>(j)];
        for (int64_t oh = 0; oh < out_h; ++oh) {
          for (int64_t ow = 0; ow < out_w; ++ow) {
            double exact = bias[static_cast<size_t>(channel)];
            double magnitude = std::fabs(exact);
            for (int64_t kh = 0; kh < k; ++kh) {
              for (int64_t kw = 0; kw < k; ++kw) {
                const int64_t ih = oh * stride + kh * dilation - pad;
                const int64_t iw = ow * stride + kw * dilation - pad;
                if (ih < 0 || ih >= b.in_h || iw < 0 || iw >= b.in_w) continue;
                const double p = static_cast<double>(
                                     weights[static_cast<size_t>(channel * ksize + kh * k + kw)]) *
                                 plane[ih * b.in_w + iw];
                exact += p;
                magnitude += std::fabs(p);
              }
            }
            ASSERT_NEAR(out[static_cast<size_t>((oh * out_w + ow) * lanes + j)], exact,
                        1e-6 * magnitude)
                << "block " << block << ", channel " << j << ", output " << oh << ", " << ow;
          }
        }
      }
    }
  });
}

// The kernels and strides whose rows are unrolled (3x3 and 5x5 at strides 1 and 2) at every
// row width taken whole (1 to 8) and in pieces of 7 and the rest (9 to 15), and dilated ones,
// which take the general loop.
TEST(DepthwiseBlock, FixedAndGeneralRowsMatchDoubleSums) {
  for (int64_t k : {3, 5}) {
    for (int64_t stride : {1, 2}) {
      for (int64_t dilation : {1, 2}) {
        for (int64_t out_w = 1; out_w <= 15; ++out_w)
          check_depthwise_block(k, stride, dilation, out_w);
      }
    }
  }
}

// A block's results back to its channels' planes: lane j of every position to plane j, exactly,
// for whole and partial vectors of positions and full and partial blocks, nothing written past
// the planes of its channels.
TEST(DepthwiseBlock, ColumnsMoveEveryLaneToItsPlane) {
  coreml::testing::for_each_simd_target([&](bool simd) {
    const int64_t lanes = simd ? depthwise_block_lanes() : 0;
    if (lanes < 8) return;
    for (int64_t positions : {1, 5, 16, 49, 50}) {
      for (int64_t channels : {int64_t{1}, lanes - 1, lanes}) {
        SCOPED_TRACE(::testing::Message()
                     << positions << " positions, " << channels << " channels");
        const int64_t rounded = (positions + lanes - 1) / lanes * lanes;
        const std::vector<float> block = random_values(static_cast<size_t>(rounded * lanes), 9);
        std::vector<float> staging(static_cast<size_t>(depthwise_block_staging(positions, lanes)),
                                   NAN);
        std::vector<float> out(static_cast<size_t>((channels + 1) * positions), -7.0f);
        depthwise_block_columns(block.data(), positions, channels, staging.data(), out.data());
        for (int64_t j = 0; j <= channels; ++j) {
          for (int64_t q = 0; q < positions; ++q) {
            const float want = j < channels ? block[static_cast<size_t>(q * lanes + j)] : -7.0f;
            ASSERT_EQ(out[static_cast<size_t>(j * positions + q)], want)
                << "channel " << j << ", position " << q;
          }
        }
      }
    }
  });
}

TEST(DotBlock, SimdAndScalarMatchReference) {
  for (int64_t k : {1, 3, 7, 8, 9, 16, 31, 33, 100}) {
    for (int64_t a_rows : {1, 3, 4, 5, 9}) {
      for (int64_t b_rows : {1, 2, 3, 7}) {
        const auto a = random_values(static_cast<size_t>(a_rows * k), 1);
        const auto b = random_values(static_cast<size_t>(b_rows * k), 2);
        // Output transposed and padded: rows of b along the fast axis, stride b_rows + 1.
        const int64_t out_a = 1, out_b = a_rows + 1;
        std::vector<float> simd(static_cast<size_t>(b_rows * out_b), -7.0f);
        std::vector<float> scalar = simd;
        dot_block_simd(a.data(), a_rows, b.data(), b_rows, k, simd.data(), out_a, out_b);
        dot_block_scalar(a.data(), a_rows, b.data(), b_rows, k, scalar.data(), out_a, out_b);
        for (int64_t i = 0; i < a_rows; ++i) {
          for (int64_t j = 0; j < b_rows; ++j) {
            double want = 0;
            for (int64_t t = 0; t < k; ++t) want += double(a[i * k + t]) * b[j * k + t];
            const size_t at = static_cast<size_t>(i * out_a + j * out_b);
            EXPECT_NEAR(simd[at], want, 1e-5 * k) << "k=" << k << " i=" << i << " j=" << j;
            EXPECT_NEAR(scalar[at], want, 1e-5 * k) << "k=" << k << " i=" << i << " j=" << j;
          }
          // The padding column is untouched.
          EXPECT_EQ(simd[static_cast<size_t>(a_rows)], -7.0f);
        }
      }
    }
  }
}

TEST(DotBlock, Fp16ConversionIsExactForEveryBitPattern) {
  std::vector<uint16_t> bits(65536);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<uint16_t>(i);
  std::vector<float> got(bits.size());
  f16_to_f32(bits.data(), got.data(), static_cast<int64_t>(bits.size()));
  for (size_t i = 0; i < bits.size(); ++i) {
    const float want = fp16_to_float(bits[i]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got[i])) << i;
    } else {
      EXPECT_EQ(float_bits(got[i]), float_bits(want)) << i;
    }
  }
}

// A "compressed" weight whose rows are a formula, so a test can tell it was decoded by rows.
class FormulaWeight : public runtime::CompressedWeight {
 public:
  FormulaWeight(int64_t rows, int64_t cols) : shape_{rows, cols} {}
  const std::vector<int64_t>& shape() const override { return shape_; }
  DType dtype() const override { return DType::kFloat16; }
  std::string_view kind() const override { return "lut"; }
  void decode_rows(int64_t begin, int64_t end, float* out) const override {
    ++decode_calls;
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t c = 0; c < shape_[1]; ++c) *out++ = value(r, c);
    }
  }
  int64_t stored_bytes() const override { return 0; }
  static float value(int64_t r, int64_t c) { return float((r * 7 + c * 3) % 11) - 5.0f; }
  mutable std::atomic<int> decode_calls{0};

 private:
  std::vector<int64_t> shape_;
};

TEST(RowProduct, CompressedWeightIsDecodedByRowsNotExpanded) {
  const int64_t rows = 37, cols = 19, x_rows = 3;
  auto weight = std::make_shared<FormulaWeight>(rows, cols);
  runtime::RtValue value;
  value.compressed = weight;
  value.constant = value.set = true;
  const auto x = random_values(static_cast<size_t>(x_rows * cols), 3);
  std::vector<float> bias(rows);
  for (int64_t r = 0; r < rows; ++r) bias[r] = float(r);
  std::vector<float> out(static_cast<size_t>(rows * x_rows));
  runtime::ThreadPool pool(2);
  multiply_rows(pool, RowSource(value), 0, rows, x.data(), x_rows, bias.data(), out.data(), 1,
                rows);
  for (int64_t j = 0; j < x_rows; ++j) {
    for (int64_t r = 0; r < rows; ++r) {
      double want = bias[r];
      for (int64_t c = 0; c < cols; ++c)
        want += FormulaWeight::value(r, c) * double(x[j * cols + c]);
      EXPECT_NEAR(out[j * rows + r], want, 1e-4) << r << "," << j;
    }
  }
  EXPECT_GE(weight->decode_calls.load(), 1);
}

// ---- einsum through an OpContext built by hand ----
class PlainAllocator : public runtime::BufferAllocator {
 public:
  Tensor allocate(size_t, const std::vector<int64_t>& shape, DType dtype) override {
    return Tensor::empty(shape, dtype);
  }
};

Tensor run_einsum(const std::string& equation, const std::vector<Tensor>& operands) {
  mil::Operation op;
  op.type = "einsum";
  op.inputs["values"] = mil::Argument{};
  mil::Value eq;
  eq.type = mil::Type::scalar(mil::DataType::kString);
  eq.strings = {equation};
  op.attributes["equation"] = eq;
  op.outputs.push_back(
      {"z", mil::Type::of_tensor(mil::TensorType{mil::DataType::kFloat32, std::nullopt})});
  std::vector<runtime::RtValue> values;
  for (const auto& t : operands) values.push_back(runtime::RtValue::of(t));
  std::vector<const runtime::RtValue*> bound;
  for (const auto& v : values) bound.push_back(&v);
  std::vector<runtime::RtValue> outputs(1);
  PlainAllocator allocator;
  runtime::ThreadPool pool(2);
  runtime::OpContext ctx(op, {bound}, outputs, allocator, pool);
  einsum(ctx);
  return outputs[0].tensor;
}

Tensor counting(const std::vector<int64_t>& shape, float scale) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = scale * float(i % 7) - 1.5f;
  return Tensor::from_vector(v, shape);
}

TEST(Einsum, GeneralForms) {
  const Tensor a = counting({2, 3, 4}, 0.5f);  // abc
  const Tensor b = counting({4, 5}, 0.25f);    // cd
  const auto av = a.to_vector<float>(), bv = b.to_vector<float>();
  // abc,cd->abd
  const Tensor abd = run_einsum("abc,cd->abd", {a, b});
  ASSERT_EQ(abd.shape(), (std::vector<int64_t>{2, 3, 5}));
  const auto got = abd.to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int d = 0; d < 5; ++d) {
        double want = 0;
        for (int c = 0; c < 4; ++c) want += av[(i * 3 + j) * 4 + c] * bv[c * 5 + d];
        EXPECT_NEAR(got[(i * 3 + j) * 5 + d], want, 1e-4);
      }
  // Output order permuted and a summed label present in only one operand: abc,cd->da
  const Tensor da = run_einsum("abc,cd->da", {a, b});
  ASSERT_EQ(da.shape(), (std::vector<int64_t>{5, 2}));
  const auto dav = da.to_vector<float>();
  for (int d = 0; d < 5; ++d)
    for (int i = 0; i < 2; ++i) {
      double want = 0;
      for (int j = 0; j < 3; ++j)
        for (int c = 0; c < 4; ++c) want += av[(i * 3 + j) * 4 + c] * bv[c * 5 + d];
      EXPECT_NEAR(dav[d * 2 + i], want, 1e-4);
    }
  // One operand: trace-like diagonal and a transpose; implicit output.
  const Tensor sq = counting({3, 3}, 1.0f);
  const auto sqv = sq.to_vector<float>();
  const auto diag = run_einsum("ii->i", {sq}).to_vector<float>();
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(diag[i], sqv[i * 4]);
  const Tensor trace = run_einsum("ii", {sq});
  EXPECT_EQ(trace.rank(), 0);
  EXPECT_FLOAT_EQ(trace.to_vector<float>()[0], sqv[0] + sqv[4] + sqv[8]);
  const auto tr = run_einsum("ij->ji", {b}).to_vector<float>();
  for (int c = 0; c < 4; ++c)
    for (int d = 0; d < 5; ++d) EXPECT_FLOAT_EQ(tr[d * 4 + c], bv[c * 5 + d]);
}

TEST(Einsum, RejectsBadEquations) {
  const Tensor a = counting({2, 3}, 1.0f);
  EXPECT_THROW(run_einsum("ab,bc->ac", {a}), Error);  // operand count
  EXPECT_THROW(run_einsum("abc->a", {a}), Error);     // rank mismatch
  EXPECT_THROW(run_einsum("ab->az", {a}), Error);     // unknown output label
  EXPECT_THROW(run_einsum("ab->aa", {a}), Error);     // repeated output label
  EXPECT_THROW(run_einsum("...b->b", {a}), Error);    // ellipsis unsupported
  EXPECT_THROW(run_einsum("ab,ab->a", {a, counting({3, 3}, 1.0f)}), Error);  // size clash
}

}  // namespace
}  // namespace coreml::kernels::linalg
