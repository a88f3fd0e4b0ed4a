// Prepared conv kernels with one group: 1x1 convs (the linear layers of converted
// transformers and ANEMLL's [1, C, 1, T] layout) and every other spatial conv as a GEMM
// whose receptive fields are gathered straight into the packed activation. Grouped convs go
// to the depthwise kernel (depthwise_conv.cpp) or the simple one.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/common/convert_simd.h"
#include "kernels/linalg/band_fill_simd.h"
#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/conv_pack.h"
#include "kernels/linalg/conv_params.h"
#include "kernels/linalg/linalg_ops.h"
#include "kernels/linalg/panel_conv.h"
#include "kernels/linalg/panel_product.h"
#include "kernels/linalg/weight_product_kernel.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {

std::unique_ptr<runtime::OpKernel> make_depthwise_conv(const KernelInit& init,
                                                       const runtime::RtValue& weight,
                                                       const ConvParams& p, std::vector<float> bias,
                                                       ConvActivation activation);

namespace {

// conv with 1x1 kernels, unit strides and dilations, no padding, one group.
class Conv1x1Kernel final : public WeightProductKernel {
 public:
  using WeightProductKernel::WeightProductKernel;

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    if (x.rank() < 3) return false;
    g.batches = x.shape()[0];
    g.k = x.shape()[1];
    if (!merge_dims(x, 2, x.shape().size(), &g.m, &g.xm)) return false;
    g.xb = x.strides()[0];
    g.xk = x.strides()[1];
    g.n = n_;
    out_shape = x.shape();
    out_shape[1] = g.n;
    g.on = g.m;  // dense [N, Cout, positions]
    g.om = 1;
    g.ob = g.n * g.m;
    (void)ctx;
    return true;
  }

 public:
  int64_t n_ = 0;
};

// Any other conv with one group: out[positions, Cout] = receptive fields [positions, K] times
// W [Cout, K] (K = Cin * kernel size), the receptive fields gathered K position by K position
// straight into the packed activation (no im2col matrix), padding read as zeros.
class ConvGemmKernel final : public WeightProductKernel {
 public:
  ConvGemmKernel(int x, std::shared_ptr<const WeightMatrix> w, std::vector<float> bias,
                 ConvParams params, std::vector<int64_t> weight_shape, ConvActivation activation)
      : WeightProductKernel(x, std::move(w), std::move(bias)),
        p_(std::move(params)),
        weight_shape_(std::move(weight_shape)) {
    set_activation(activation);
  }

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    if (!x.is_contiguous() || x.rank() != static_cast<int64_t>(weight_shape_.size())) return false;
    if (const std::string error = conv_shape(x.shape(), weight_shape_, p_, &s_); !error.empty()) {
      ctx.fail(error);
    }
    g.batches = s_.n;
    g.k = s_.cin * s_.kernel_size();
    g.m = s_.out_size();
    if (g.m < 2) return false;  // one position: the simple kernel's dot products
    g.n = s_.cout;
    g.xm = 1;
    g.xb = s_.cin * s_.in_size();
    out_shape = {s_.n, s_.cout};
    for (int d = 3 - p_.spatial; d < 3; ++d) out_shape.push_back(s_.out[static_cast<size_t>(d)]);
    g.on = g.m;  // dense [N, Cout, positions]
    g.om = 1;
    g.ob = g.n * g.m;
    plan_taps();
    plan_phases();
    return true;
  }

  bool gathers_tokens() const override { return true; }

  // fp16 inputs: always (no widened copy of the input). fp32 ones: for output rows of a pass or
  // longer; shorter rows split every pass into runs, each costing more than the copy it saves.
  bool prefers_direct_packing(DType x_dtype) const override {
    return x_dtype == DType::kFloat16 || s_.out[2] >= kDirectMinWidth;
  }
  static constexpr int64_t kDirectMinWidth = 64;

  const float* load_tokens(const std::byte* x, int64_t b, int64_t kk, int64_t m0, int64_t count,
                           float* buf) const override {
    if (kk >= planned().k) return nullptr;
    if (x_dtype() == DType::kFloat32) {
      gather(reinterpret_cast<const float*>(x), b, kk, m0, count, buf);
    } else {
      gather(reinterpret_cast<const uint16_t*>(x), b, kk, m0, count, buf);
    }
    return buf;
  }

  // Direct packing (conv_pack.h): each output row's run of tokens read where it lies in its
  // input line; the rows of the tokens are found once for all the K positions.
  void copy_tokens(const std::byte* x, int64_t b, int64_t kk0, int64_t kk1, int64_t m0,
                   int64_t count, float* dst, int64_t stride, int64_t room) const override {
    RowRuns rows;
    for (int64_t at = 0; at < count; at += kDirectTokens) {
      const ConvSource source =
          conv_source(x, b, m0 + at, std::min(kDirectTokens, count - at), rows);
      copy_conv_tokens(source, kk0, kk1, dst + at, stride, room - at);
    }
  }

  // Line tokens (weight_product_lines.cpp): 2-D and 1-D convs. With stride 1, a band line j
  // holds input column j - (padding before), so output column ow at kernel column kw reads
  // band column ow + kw * dilation. Larger strides split each input channel into phases (the
  // lines and columns of one remainder modulo the stride, only those some kernel offset
  // reads), each a channel of the band: kernel offset a = kh * dilation of output line oh reads
  // input line (oh + a / stride) * stride + a % stride (less the padding), which is line
  // oh + a / stride of phase a % stride; likewise along a line. So every K position's tokens
  // are again a run of the band at a fixed offset.
  bool token_lines(TokenLines* t) const override {
    const auto& s = s_;
    if (s.in[0] != 1 || s.kernel[0] != 1) return false;
    // A strided kernel that reads each input value at most once (a 1x1 of stride 2) gains
    // nothing from a band, which copies what packing copies and reads it again (ResNet's
    // downsampling convs measured 15-20 % slower in lines).
    for (size_t d = 1; d < 3; ++d) {
      if (p_.stride[d] > 1 && (s.kernel[d] - 1) * p_.dilation[d] + 1 <= p_.stride[d]) return false;
    }
    t->out_lines = s.out[1];
    t->out_width = s.out[2];
    t->width = band_width();
    t->halo = band_halo();
    t->channels = s.cin * static_cast<int64_t>(phases_[0].size() * phases_[1].size());
    const int64_t ksize = s.kernel_size();
    const auto k = static_cast<size_t>(s.cin * ksize);
    t->channel.resize(k);
    t->line.resize(k);
    t->column.resize(k);
    const int64_t sy = p_.stride[1], sx = p_.stride[2];
    const auto ny = static_cast<int64_t>(phases_[0].size());
    const auto nx = static_cast<int64_t>(phases_[1].size());
    for (size_t kk = 0; kk < k; ++kk) {
      const auto r = static_cast<int64_t>(kk) % ksize;
      const int64_t ci = static_cast<int64_t>(kk) / ksize;
      const int64_t a = r / s.kernel[2] * p_.dilation[1], c = r % s.kernel[2] * p_.dilation[2];
      const int64_t iy = phase_index_[0][static_cast<size_t>(a % sy)];
      const int64_t ix = phase_index_[1][static_cast<size_t>(c % sx)];
      t->channel[kk] = (ci * ny + iy) * nx + ix;
      t->line[kk] = a / sy;
      t->column[kk] = c / sx;
    }
    return true;
  }

  void fill_band(const std::byte* x, int64_t b, int64_t line0, int64_t lines, int64_t plane,
                 float* band) const override {
    if (x_dtype() == DType::kFloat32) {
      fill_band_of(reinterpret_cast<const float*>(x), b, line0, lines, plane, band);
    } else {
      fill_band_of(reinterpret_cast<const uint16_t*>(x), b, line0, lines, plane, band);
    }
  }

  void pack_token_pairs(const std::byte* x, int64_t b, int64_t pair0, int64_t pair1, int64_t m0,
                        int64_t count, uint16_t* hi, uint16_t* lo, int64_t stride) const override {
    RowRuns rows;
    for (int64_t at = 0; at < count; at += kDirectTokens) {
      const ConvSource source =
          conv_source(x, b, m0 + at, std::min(kDirectTokens, count - at), rows);
      pack_conv_pairs(source, pair0, pair1, hi + 2 * at, lo + 2 * at, stride);
    }
  }

 private:
  // Where K position kk (input channel, kernel offset) reads, worked out once per shape so the
  // gather below divides only once per call: the input plane, the input line and depth for
  // output row 0, and the range [first, last) of outputs of a row (from output column 0) that
  // read inside the line; a run from column ow reads [first - ow, last - ow) of its own outputs.
  using Tap = ConvTap;

  void plan_taps() {
    const auto& s = s_;
    const int64_t ksize = s.kernel_size();
    const int64_t k = s.cin * ksize;
    if (static_cast<int64_t>(taps_.size()) == k && taps_planned_for_ == s.in) return;
    taps_.resize(static_cast<size_t>(k));
    const int64_t sw = p_.stride[2];
    for (int64_t kk = 0; kk < k; ++kk) {
      const int64_t ci = kk / ksize, r = kk % ksize;
      const int64_t kd = r / (s.kernel[1] * s.kernel[2]);
      const int64_t kh = (r / s.kernel[2]) % s.kernel[1];
      const int64_t kw = r % s.kernel[2];
      Tap& t = taps_[static_cast<size_t>(kk)];
      t.plane = ci * s.in_size();
      t.id0 = kd * p_.dilation[0] - s.before[0];
      t.ih0 = kh * p_.dilation[1] - s.before[1];
      t.w_offset = kw * p_.dilation[2] - s.before[2];
      // Output ow reads iw = ow * sw + w_offset, inside the line for first <= ow < last.
      t.first = ceil_div(-t.w_offset, sw);
      t.last = floor_div(s.in[2] - 1 - t.w_offset, sw) + 1;
    }
    taps_planned_for_ = s.in;
  }

  // Up to kDirectTokens positions: at most one row each.
  struct RowRuns {
    std::array<ConvRowRun, kDirectTokens> runs;
  };

  // The packing's view of positions [m0, m0 + count) (count <= kDirectTokens) of batch b,
  // split at the output rows into `rows`.
  ConvSource conv_source(const std::byte* x, int64_t b, int64_t m0, int64_t count,
                         RowRuns& rows) const {
    const auto& s = s_;
    ConvSource source;
    source.input = x;
    source.fp16 = x_dtype() == DType::kFloat16;
    source.batch = b * s.cin * s.in_size();
    source.extent = s.n * s.cin * s.in_size();
    source.in = s.in;
    source.stride = p_.stride;
    source.taps = taps_.data();
    source.k = planned().k;
    source.rows = rows.runs.data();
    const int64_t width = s.out[2];
    int64_t ow = m0 % width;
    const int64_t line = m0 / width;
    int64_t od = line / s.out[1], oh = line % s.out[1];
    int64_t size = 0;
    for (int64_t done = 0; done < count;) {
      const int64_t run = std::min(count - done, width - ow);
      rows.runs[static_cast<size_t>(size++)] = {done, run, ow, od, oh};
      done += run;
      ow = 0;
      if (++oh == s.out[1]) {
        oh = 0;
        ++od;
      }
    }
    source.row_count = size;
    return source;
  }

  // Output positions [m0, m0 + count) of K position `kk`, output row by output row
  // (consecutive positions of a row read one input line).
  template <typename T>
  void gather(const T* x, int64_t b, int64_t kk, int64_t m0, int64_t count, float* buf) const {
    const auto& s = s_;
    const Tap& t = taps_[static_cast<size_t>(kk)];
    const T* plane = x + b * s.cin * s.in_size() + t.plane;
    const int64_t sw = p_.stride[2];
    int64_t ow = m0 % s.out[2];
    const int64_t line_index = m0 / s.out[2];
    int64_t oh = line_index % s.out[1], od = line_index / s.out[1];
    int64_t done = 0;
    while (done < count) {
      const int64_t run = std::min(count - done, s.out[2] - ow);
      const int64_t id = od * p_.stride[0] + t.id0;
      const int64_t ih = oh * p_.stride[1] + t.ih0;
      float* dst = buf + done;
      if (id < 0 || id >= s.in[0] || ih < 0 || ih >= s.in[1]) {
        std::fill(dst, dst + run, 0.0f);
      } else {
        const T* line = plane + (id * s.in[1] + ih) * s.in[2];
        // Zeros before the line's first and after its last element, the line in between.
        const int64_t first = std::clamp<int64_t>(t.first - ow, 0, run);
        const int64_t last = std::clamp<int64_t>(t.last - ow, first, run);
        std::fill(dst, dst + first, 0.0f);
        std::fill(dst + last, dst + run, 0.0f);
        const T* src = line + (ow + first) * sw + t.w_offset;
        copy_every(src, sizeof(T) == 2, sw, last - first, dst + first);
      }
      done += run;
      ow = 0;
      if (++oh == s.out[1]) {
        oh = 0;
        ++od;
      }
    }
  }

  // A band line's columns (an output line and the phase columns the dilated kernel reaches
  // beyond it) and the phase lines a band holds beyond its output lines.
  int64_t band_width() const {
    return s_.out[2] + (s_.kernel[2] - 1) * p_.dilation[2] / p_.stride[2];
  }
  int64_t band_halo() const { return (s_.kernel[1] - 1) * p_.dilation[1] / p_.stride[1]; }

  // The phases (remainders modulo the stride) some kernel offset reads along lines ([0]) and
  // columns ([1]), and each remainder's place among them (-1: unread).
  void plan_phases() {
    for (size_t axis = 0; axis < 2; ++axis) {
      const int64_t stride = p_.stride[axis + 1], dilation = p_.dilation[axis + 1];
      const int64_t kernel = s_.kernel[axis + 1];
      phase_index_[axis].assign(static_cast<size_t>(stride), -1);
      for (int64_t k = 0; k < kernel && k < stride; ++k) {
        phase_index_[axis][static_cast<size_t>(k * dilation % stride)] = 0;
      }
      phases_[axis].clear();
      for (int64_t r = 0; r < stride; ++r) {
        if (phase_index_[axis][static_cast<size_t>(r)] < 0) continue;
        phase_index_[axis][static_cast<size_t>(r)] = static_cast<int64_t>(phases_[axis].size());
        phases_[axis].push_back(r);
      }
    }
  }

  template <typename T>
  void fill_band_of(const T* x, int64_t b, int64_t line0, int64_t lines, int64_t plane,
                    float* band) const {
    const auto& s = s_;
    const int64_t width = band_width();
    const int64_t halo = band_halo();
    const int64_t sy = p_.stride[1], sx = p_.stride[2];
    int64_t channel = 0;  // the band's channel: input channel, line phase, column phase
    for (int64_t ci = 0; ci < s.cin; ++ci) {
      const T* input = x + (b * s.cin + ci) * s.in_size();
      for (const int64_t py : phases_[0]) {
        for (const int64_t px : phases_[1]) {
          // Band column j holds input column j * sx + px - before: [begin, end) of the band
          // come from the line.
          const int64_t first = px - s.before[2];
          const int64_t begin = std::clamp<int64_t>(ceil_div(-first, sx), 0, width);
          const int64_t end =
              std::clamp<int64_t>(floor_div(s.in[2] - 1 - first, sx) + 1, begin, width);
          for (int64_t l = 0; l < lines + halo; ++l) {
            float* dst = band + channel * plane + l * width;
            const int64_t ih = (line0 + l) * sy + py - s.before[1];
            if (ih < 0 || ih >= s.in[1]) {
              std::fill(dst, dst + width, 0.0f);
              continue;
            }
            std::fill(dst, dst + begin, 0.0f);
            copy_every(input + ih * s.in[2] + begin * sx + first, sizeof(T) == 2, sx, end - begin,
                       dst + begin);
            std::fill(dst + end, dst + width, 0.0f);
          }
          ++channel;
        }
      }
    }
  }

  static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
  static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

  ConvParams p_;
  std::vector<int64_t> weight_shape_;
  ConvShape s_;
  std::vector<Tap> taps_;  // per K position, for the input extents below
  // Line tokens' phases along lines and columns (plan_phases).
  std::array<std::vector<int64_t>, 2> phases_, phase_index_;
  std::array<int64_t, 3> taps_planned_for_{};
};

// Positions per plane of the op's declared output [batch, channels, spatial...]; 0 when a
// dimension is not known at load, or the count is past any real plane (declared sizes come
// from the file).
int64_t declared_positions(const mil::Operation& op) {
  if (op.outputs.empty()) return 0;
  const auto& shape = op.outputs[0].type.tensor.shape;
  if (!shape || shape->size() < 3) return 0;
  return declared_output_extent(op, 2, shape->size());
}

// The positions line tokens compute per output channel (weight_product_lines.cpp): each output
// line as wide as an input line of its stride phase, about the output's width plus the kernel's
// reach past one stride; 0 when the declared output's width is not known, or when the count is
// far past any real conv (a hostile dilation: in double, so nothing overflows on the way).
int64_t line_token_positions(const mil::Operation& op, const std::vector<int64_t>& weight_shape,
                             const ConvParams& p, int64_t positions) {
  const auto& shape = op.outputs[0].type.tensor.shape;
  if (!shape || !shape->back().known() || shape->back().size <= 0 || weight_shape.size() < 3 ||
      p.stride[2] <= 0) {
    return 0;
  }
  const int64_t width = shape->back().size;
  const double reach =
      static_cast<double>(weight_shape.back() - 1) * static_cast<double>(p.dilation[2]);
  const double lines = static_cast<double>(positions / width);
  const double count =
      lines * (static_cast<double>(width) + std::ceil(reach / static_cast<double>(p.stride[2])));
  return count > 0 && count < static_cast<double>(int64_t{1} << 40) ? static_cast<int64_t>(count)
                                                                    : 0;
}

// The padded input a panel conv copies per run ([batch][Cin][padded plane] fp32), or a huge
// number when the batch or a spatial extent is not known at load.
constexpr int64_t kMaxPanelPaddedBytes = int64_t{64} << 20;
int64_t padded_input_bytes(const mil::Operation& op, const std::vector<int64_t>& weight_shape,
                           const ConvParams& p) {
  const auto& shape = op.outputs[0].type.tensor.shape;
  if (shape->size() != weight_shape.size()) return std::numeric_limits<int64_t>::max();
  // In double: declared sizes come from the file and may be absurd.
  double bytes = 4.0 * static_cast<double>(weight_shape[1]);
  const size_t spatial = weight_shape.size() - 2;
  for (size_t d = 0; d < shape->size(); ++d) {
    if (!(*shape)[d].known()) return std::numeric_limits<int64_t>::max();
    if (d == 1) continue;
    double extent = static_cast<double>((*shape)[d].size);
    if (d >= 2) {
      const size_t axis = 3 - spatial + (d - 2);
      extent = (extent - 1) * static_cast<double>(p.stride[axis]) +
               static_cast<double>(weight_shape[d] - 1) * static_cast<double>(p.dilation[axis]) + 1;
    }
    bytes *= extent;
  }
  return bytes > static_cast<double>(kMaxPanelPaddedBytes) ? std::numeric_limits<int64_t>::max()
                                                           : static_cast<int64_t>(bytes);
}

}  // namespace

std::unique_ptr<runtime::OpKernel> make_conv(const KernelInit& init) {
  return make_conv_kernel(init, ConvActivation{});
}

std::unique_ptr<runtime::OpKernel> make_conv_kernel(const KernelInit& init,
                                                    ConvActivation activation) {
  const int x = init.binding("x");
  const runtime::RtValue* weight = init.constant(init.binding("weight"));
  if (x < 0 || !weight) return nullptr;
  const auto& ws = weight->shape();
  if (ws.size() < 3 || ws.size() > 5) return nullptr;
  bool pointwise = true;
  for (size_t d = 2; d < ws.size(); ++d) pointwise = pointwise && ws[d] == 1;
  const ConvParams p = read_conv_params(init.params(), static_cast<int64_t>(ws.size()));
  const int residual = init.binding("residual");
  if (p.groups != 1) {
    if (residual >= 0) return nullptr;  // the simple kernel adds it
    bool bias_ok = false;
    auto bias = constant_bias(init, &bias_ok);
    return bias_ok ? make_depthwise_conv(init, *weight, p, std::move(bias), activation) : nullptr;
  }
  for (int d = 0; d < 3; ++d) {
    if (p.stride[static_cast<size_t>(d)] != 1 || p.custom_before[static_cast<size_t>(d)] != 0 ||
        p.custom_after[static_cast<size_t>(d)] != 0) {
      pointwise = false;
    }
  }
  bool ok = false;
  auto bias = constant_bias(init, &ok);
  if (!ok) return nullptr;
  // Few positions per plane (known from the op's declared output): output channels in the
  // lanes instead (panel_conv.h), where CPUs without AMX run panels.
  const int64_t positions = declared_positions(init.op());
  const int64_t k = weight->tensor.numel() / std::max<int64_t>(1, ws[0]);
  if (positions > 0 && panel_products_wanted(ws[0], k) &&
      panel_conv_pays(ws[0], positions,
                      pointwise ? 0 : line_token_positions(init.op(), ws, p, positions), k,
                      pointwise) &&
      (pointwise || padded_input_bytes(init.op(), ws, p) <= kMaxPanelPaddedBytes)) {
    if (auto panels = make_panel_conv(*weight, x, residual, bias, activation, p, pointwise)) {
      return panels;
    }
  }
  auto matrix = WeightMatrix::create(*weight, false);
  if (!matrix) return nullptr;
  if (!pointwise) {
    // Palettized or otherwise compressed spatial kernels are rare; they keep the simple path.
    if (matrix->format() != WeightMatrix::Format::kF32 &&
        matrix->format() != WeightMatrix::Format::kF16) {
      return nullptr;
    }
    auto kernel =
        std::make_unique<ConvGemmKernel>(x, std::move(matrix), std::move(bias), p, ws, activation);
    kernel->set_residual(residual);
    return kernel;
  }
  auto kernel = std::make_unique<Conv1x1Kernel>(x, std::move(matrix), std::move(bias));
  kernel->n_ = ws[0];
  kernel->set_activation(activation);
  kernel->set_residual(residual);
  return kernel;
}

}  // namespace coreml::kernels::linalg
