// Depthwise conv (one input channel per group: MobileNet's and EfficientNet's 3x3 / 5x5
// spatial filters) as a direct kernel: each output channel is a sum of a few shifted input
// lines times a scalar weight, so an im2col matrix or a GEMM would only add traffic. Channels
// are split across the threads; each channel's plane is copied once into a zero-padded fp32
// plane (fp16 widened on the way), the SIMD loops of depthwise_simd.h compute its output plane,
// and a fused activation and the one rounding to the output dtype follow per plane. Small planes
// (output lines of at most half a vector) go a block of channels at a time instead, channels in
// the lanes (depthwise_block_simd.h).
#include <algorithm>
#include <array>

#include "kernels/common/convert_simd.h"
#include "kernels/common/simd.h"
#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/conv_params.h"
#include "kernels/linalg/depthwise_block_simd.h"
#include "kernels/linalg/depthwise_simd.h"
#include "runtime/kernel_registry.h"
#include "runtime/limits.h"
#include "runtime/packed_weights.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

using runtime::KernelInit;
using runtime::ReshapeContext;
using runtime::RunContext;

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }
int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

class DepthwiseConvKernel final : public runtime::OpKernel {
 public:
  DepthwiseConvKernel(int x, ConvParams p, std::vector<int64_t> weight_shape,
                      std::vector<float> weights, std::vector<float> bias,
                      ConvActivation activation)
      : x_(x),
        p_(std::move(p)),
        weight_shape_(std::move(weight_shape)),
        w_(std::move(weights)),
        taps_per_channel_(static_cast<int64_t>(w_.size()) / weight_shape_[0]),
        bias_(std::move(bias)),
        activation_(activation) {}

  void reshape(ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    const DType out = ctx.declared_dtype(0);
    const bool float_io = (x.dtype() == DType::kFloat32 || x.dtype() == DType::kFloat16) &&
                          (out == DType::kFloat32 || out == DType::kFloat16);
    if (!float_io || !x.is_contiguous() || x.rank() != static_cast<int64_t>(weight_shape_.size())) {
      ctx.decline();
      return;
    }
    if (const std::string error = conv_shape(x.shape(), weight_shape_, p_, &s_); !error.empty()) {
      ctx.fail(error);
    }
    if (s_.cin != p_.groups || s_.out_size() == 0 || s_.in_size() == 0) {
      ctx.decline();  // not depthwise for this input, or empty (the simple kernel's rules)
      return;
    }
    x_dtype_ = x.dtype();
    out_dtype_ = out;
    // 1-D and 2-D kernels run channel by channel through a zero-padded copy of the plane
    // (depthwise_simd.h): padded_h lines of padded_w floats, wide enough for whole vectors
    // (and at stride 2 for split lines).
    // Sizes follow from attributes (a hostile pad, stride or dilation): overflow-checked, and
    // within the tensor budget.
    rows_ = s_.in[0] == 1 && s_.kernel[0] == 1 && s_.out[0] == 1;
    int64_t in_floats = s_.in_size(), per_thread = 0, total = 0;
    bool overflow = false;
    if (rows_) {
      int64_t reach_h = 0, reach_w = 0, span_w = 0;
      overflow =
          __builtin_mul_overflow(s_.out[1] - 1, p_.stride[1], &reach_h) ||
          __builtin_mul_overflow(s_.kernel[1] - 1, p_.dilation[1], &padded_h_) ||
          __builtin_add_overflow(reach_h, padded_h_ + 1, &padded_h_) ||
          __builtin_mul_overflow(round_up(s_.out[2], kDepthwiseRowPad) - 1, p_.stride[2],
                                 &reach_w) ||
          __builtin_mul_overflow(s_.kernel[2] - 1, p_.dilation[2], &span_w) ||
          __builtin_add_overflow(reach_w, span_w + 2, &padded_w_) ||
          __builtin_add_overflow(std::max(padded_w_, s_.before[2] + s_.in[2]),
                                 15 + (p_.stride[2] == 2 ? kDepthwiseSplitSlack : 0), &padded_w_) ||
          __builtin_mul_overflow(padded_h_, padded_w_ / 16 * 16, &in_floats);
      padded_w_ = padded_w_ / 16 * 16;
    }
    // Per thread: the padded plane (or the plane widened from fp16) and one fp32 output plane
    // with room for whole vectors.
    if (overflow ||
        __builtin_add_overflow(round_up(in_floats, 16),
                               round_up(s_.out_size() + kDepthwiseRowPad, 16), &per_thread)) {
      ctx.fail("the depthwise conv's padded planes overflow");
    }
    // Output lines filling at most half a vector (7 x 7 planes), and on vectors of 16 lanes or
    // more up to 7/8 of one (14 x 14 planes): channels in the lanes instead
    // (depthwise_block_simd.h), whose scratch (padded block, results, staging) the same
    // per-thread area holds. Measured on AVX-512 against the per-channel path: MobileNetV3's
    // 14-wide 5 x 5 convs 1.2-1.4x faster blocked, its 28-wide 3 x 3 one 1.9x slower (two rows
    // of 14 fill the per-channel path's vectors almost whole). AVX2's 7-wide lines (7 of 8 lanes)
    // stay per channel: not measured.
    lanes_ = depthwise_block_lanes();
    blocked_ = false;
    const bool narrow = 2 * s_.out[2] <= lanes_ || (lanes_ >= 16 && 8 * s_.out[2] <= 7 * lanes_);
    if (rows_ && narrow && lanes_ >= 8 && lanes_ <= kMaxBlockLanes) {
      // Both products and sums are within the overflow-checked ones above.
      block_h_ = padded_h_;
      block_w_ = (s_.out[2] - 1) * p_.stride[2] + (s_.kernel[2] - 1) * p_.dilation[2] + 1;
      // Small planes only: the padded block, the results twice (computed, then by channel),
      // the staging of the moves between planes and lanes, and the block's input planes
      // widened from fp16, all within 1 MiB.
      const auto floats = [&] {
        return block_h_ * block_w_ * lanes_ + round_up(s_.out_size(), lanes_) * lanes_ +
               s_.out_size() * lanes_ +
               depthwise_block_staging(std::max(s_.in_size(), s_.out_size()), lanes_) +
               round_up(s_.in_size() * lanes_, 16);
      };
      if (block_h_ <= 1024 && block_w_ <= 1024 && s_.kernel_size() <= (int64_t{1} << 12) &&
          s_.in_size() <= (int64_t{1} << 14) && floats() <= (int64_t{1} << 18)) {
        blocked_ = true;
        per_thread = std::max(per_thread, round_up(floats(), 16));
        if (block_lanes_ != lanes_) {  // the weights are constant: arranged once
          block_taps_ =
              depthwise_block_taps(channel_taps(), bias_, s_.cout, s_.kernel_size(), lanes_);
          block_lanes_ = lanes_;
        }
      }
    }
    // The taps are kept in the arrangement the runs read: by block once a shape runs blocked,
    // by channel again (rebuilt from the blocks) if a later shape does not; a kernel whose
    // shapes have needed both keeps both.
    if (blocked_ && simd_enabled()) {
      if (!kept_both_) std::vector<float>().swap(w_);
    } else if (w_.empty()) {
      channel_taps();
      kept_both_ = true;
    }
    if (__builtin_mul_overflow(per_thread, int64_t{std::max(1, ctx.threads())}, &total)) {
      ctx.fail("the depthwise conv's padded planes overflow");
    }
    runtime::check_buffer_budget(static_cast<uint64_t>(total), sizeof(float),
                                 "the depthwise conv's padded planes", ctx.where());
    per_thread_ = per_thread;
    ctx.request_scratch(static_cast<size_t>(total) * sizeof(float));
    std::vector<int64_t> shape = {s_.n, s_.cout};
    for (int d = 3 - p_.spatial; d < 3; ++d) shape.push_back(s_.out[static_cast<size_t>(d)]);
    ctx.set_output(0, std::move(shape), out_dtype_);
  }

  void run(RunContext& ctx) override {
    if (blocked_ && simd_enabled()) {
      run_blocks(ctx);
      return;
    }
    const auto* x = static_cast<const std::byte*>(ctx.in(x_).data());
    auto* out = static_cast<std::byte*>(ctx.out(0).data());
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    const int64_t planes = s_.n * s_.cout;
    ctx.pool().parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
      float* mine = scratch + per_thread_ * runtime::ThreadPool::thread_index();
      float* widened = mine;
      float* acc = mine + round_up(rows_ ? padded_h_ * padded_w_ : s_.in_size(), 16);
      for (int64_t plane = begin; plane < end; ++plane) {
        const int64_t n = plane / s_.cout, co = plane % s_.cout;
        const int64_t ci = co / s_.cout_group;  // cin_group is 1
        const int64_t in_index = (n * s_.cin + ci) * s_.in_size();
        if (rows_) {
          // Planes after this task's first reuse the zero padding already in `widened`.
          channel_rows(x + static_cast<size_t>(in_index) * dtype_size(x_dtype_), co, plane != begin,
                       widened, acc);
        } else {
          const float* in;
          if (x_dtype_ == DType::kFloat32) {
            in = reinterpret_cast<const float*>(x) + in_index;
          } else {
            f16_to_f32(reinterpret_cast<const uint16_t*>(x) + in_index, widened, s_.in_size());
            in = widened;
          }
          channel(in, co, acc);
        }
        // The fused activation (if any) and the store (with the one rounding to fp16) in one
        // pass where conv_epilogue.h can.
        const int64_t out_index = plane * s_.out_size();
        if (out_dtype_ == DType::kFloat32) {
          activation_.apply(acc, reinterpret_cast<float*>(out) + out_index, s_.out_size());
        } else {
          activation_.apply_to_half(acc, reinterpret_cast<uint16_t*>(out) + out_index,
                                    s_.out_size());
        }
      }
    });
  }

 private:
  // Blocks of lanes_ output channels, each in one call (depthwise_block_simd.h); the fused
  // activation over the block's results at once, then each channel's plane written out (with
  // the one rounding to fp16).
  void run_blocks(RunContext& ctx) const {
    const auto* x = ctx.in(x_).data();
    auto* out = ctx.out(0).data();
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    const int64_t blocks = (s_.cout + lanes_ - 1) / lanes_;
    const int64_t positions = s_.out_size();
    const int64_t ksize = s_.kernel_size();
    ctx.pool().parallel_for(s_.n * blocks, 1, [&](int64_t begin, int64_t end) {
      float* padded = scratch + per_thread_ * runtime::ThreadPool::thread_index();
      float* results = padded + block_h_ * block_w_ * lanes_;
      float* columns = results + round_up(positions, lanes_) * lanes_;
      float* staging = columns + positions * lanes_;
      float* widened = staging + depthwise_block_staging(std::max(s_.in_size(), positions), lanes_);
      std::array<int64_t, kMaxBlockLanes> offsets{};
      DepthwiseBlock b;
      set_geometry(b);
      b.padded_h = block_h_;
      b.padded_w = block_w_;
      b.plane_offsets = offsets.data();
      for (int64_t task = begin; task < end; ++task) {
        const int64_t n = task / blocks, c0 = task % blocks * lanes_;
        b.channels = std::min(lanes_, s_.cout - c0);
        // The block's output channels read input planes [ci0, ci1] (several outputs per input
        // with a channel multiplier): fp16 ones widened in one call.
        const int64_t ci0 = c0 / s_.cout_group, ci1 = (c0 + b.channels - 1) / s_.cout_group;
        const int64_t first_plane = (n * s_.cin + ci0) * s_.in_size();
        if (x_dtype_ == DType::kFloat16) {
          f16_to_f32(static_cast<const uint16_t*>(x) + first_plane, widened,
                     (ci1 - ci0 + 1) * s_.in_size());
          b.input = widened;
        } else {
          b.input = static_cast<const float*>(x) + first_plane;
        }
        for (int64_t j = 0; j < b.channels; ++j) {
          offsets[static_cast<size_t>(j)] = ((c0 + j) / s_.cout_group - ci0) * s_.in_size();
        }
        b.taps = block_taps_.taps.data() + c0 * ksize;
        b.bias = block_taps_.bias.data() + c0;
        b.reuse_padding = task != begin;
        depthwise_block(b, padded, staging, results);
        activation_.apply(results, positions * lanes_);
        // The block's output planes are adjacent: by channel, then rounded in one call.
        const int64_t first = (n * s_.cout + c0) * positions;
        if (out_dtype_ == DType::kFloat32) {
          depthwise_block_columns(results, positions, b.channels, staging,
                                  static_cast<float*>(out) + first);
        } else {
          depthwise_block_columns(results, positions, b.channels, staging, columns);
          f32_to_f16(columns, static_cast<uint16_t*>(out) + first, b.channels * positions);
        }
      }
    });
  }

  // The plane geometry both loops take (DepthwiseChannel, DepthwiseBlock): the input, its
  // padding ahead, the kernel, the output, strides and dilations of the two spatial dims.
  template <class Plane>
  void set_geometry(Plane& c) const {
    c.in_h = s_.in[1];
    c.in_w = s_.in[2];
    c.top = s_.before[1];
    c.left = s_.before[2];
    c.kernel_h = s_.kernel[1];
    c.kernel_w = s_.kernel[2];
    c.out_h = s_.out[1];
    c.out_w = s_.out[2];
    c.stride_h = p_.stride[1];
    c.stride_w = p_.stride[2];
    c.dilation_h = p_.dilation[1];
    c.dilation_w = p_.dilation[2];
  }

  // acc (the output plane of channel co) from its input plane `in`, through `padded`.
  // With reuse_padding, `padded` holds the previous channel's padded plane (same geometry).
  void channel_rows(const std::byte* in, int64_t co, bool reuse_padding, float* padded,
                    float* acc) const {
    const auto& s = s_;
    DepthwiseChannel c;
    c.input = in;
    c.half = x_dtype_ == DType::kFloat16;
    set_geometry(c);
    c.padded_h = padded_h_;
    c.line_stride = padded_w_;
    c.weights = w_.data() + co * s.kernel_size();
    c.bias = bias_.empty() ? 0.0f : bias_[static_cast<size_t>(co)];
    c.reuse_padding = reuse_padding;
    depthwise_channel(c, padded, acc);
  }

  // acc (the output plane of channel co) = bias + sum over kernel offsets of weight * input.
  void channel(const float* in, int64_t co, float* acc) const {
    const auto& s = s_;
    std::fill(acc, acc + s.out_size(), bias_.empty() ? 0.0f : bias_[static_cast<size_t>(co)]);
    const float* w = w_.data() + co * s.kernel_size();
    const int64_t sw = p_.stride[2];
    for (int64_t od = 0; od < s.out[0]; ++od) {
      for (int64_t oh = 0; oh < s.out[1]; ++oh) {
        float* row = acc + (od * s.out[1] + oh) * s.out[2];
        for (int64_t kd = 0; kd < s.kernel[0]; ++kd) {
          const int64_t id = od * p_.stride[0] - s.before[0] + kd * p_.dilation[0];
          if (id < 0 || id >= s.in[0]) continue;
          for (int64_t kh = 0; kh < s.kernel[1]; ++kh) {
            const int64_t ih = oh * p_.stride[1] - s.before[1] + kh * p_.dilation[1];
            if (ih < 0 || ih >= s.in[1]) continue;
            const float* line = in + (id * s.in[1] + ih) * s.in[2];
            for (int64_t kw = 0; kw < s.kernel[2]; ++kw) {
              const float wv = w[(kd * s.kernel[1] + kh) * s.kernel[2] + kw];
              // Outputs ow read iw = ow * sw + offset: only those inside the line.
              const int64_t offset = kw * p_.dilation[2] - s.before[2];
              const int64_t first = std::clamp<int64_t>(ceil_div(-offset, sw), 0, s.out[2]);
              const int64_t last =
                  std::clamp<int64_t>(floor_div(s.in[2] - 1 - offset, sw) + 1, first, s.out[2]);
              const float* src = line + first * sw + offset;
              if (sw == 1) {
                for (int64_t ow = first; ow < last; ++ow) row[ow] += wv * src[ow - first];
              } else {
                for (int64_t ow = first; ow < last; ++ow) {
                  row[ow] += wv * src[(ow - first) * sw];
                }
              }
            }
          }
        }
      }
    }
  }

  // The taps by channel (w_), rebuilt from the blocked ones when they were let go.
  const std::vector<float>& channel_taps() {
    if (w_.empty()) {
      w_ = depthwise_channel_taps(block_taps_, weight_shape_[0], taps_per_channel_, block_lanes_);
    }
    return w_;
  }

  int x_;
  ConvParams p_;
  std::vector<int64_t> weight_shape_;
  std::vector<float> w_;  // [Cout, kernel size] fp32; empty while only the blocked taps are kept
  int64_t taps_per_channel_;
  bool kept_both_ = false;
  std::vector<float> bias_;  // [Cout] or empty
  ConvActivation activation_;
  ConvShape s_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
  int64_t per_thread_ = 0;
  bool rows_ = false;  // the padded, row-by-row path
  int64_t padded_h_ = 0, padded_w_ = 0;
  // Channels in the lanes (run_blocks), up to this many lanes (2048-bit vectors).
  static constexpr int64_t kMaxBlockLanes = 64;
  bool blocked_ = false;
  int64_t lanes_ = 1, block_h_ = 0, block_w_ = 0;
  DepthwiseBlockTaps block_taps_;  // for blocks of block_lanes_ channels
  int64_t block_lanes_ = 0;
};

}  // namespace

// conv whose groups equal the input channels and whose weight is a dense constant
// [Cout, 1, *kernel]; nullptr otherwise.
std::unique_ptr<runtime::OpKernel> make_depthwise_conv(const KernelInit& init,
                                                       const runtime::RtValue& weight,
                                                       const ConvParams& p, std::vector<float> bias,
                                                       ConvActivation activation) {
  const auto& ws = weight.shape();
  if (weight.compressed || ws.size() < 3 || ws[0] < 1 || ws[1] != 1 || p.groups <= 1 ||
      ws[0] % p.groups != 0)
    return nullptr;
  std::vector<float> taps = weight.tensor.to(DType::kFloat32).to_vector<float>();
  // The kernel keeps its own fp32 copy: the weight file's pages need not stay in memory.
  runtime::drop_file_pages(weight.tensor);
  return std::make_unique<DepthwiseConvKernel>(init.binding("x"), p, ws, std::move(taps),
                                               std::move(bias), activation);
}

}  // namespace coreml::kernels::linalg
