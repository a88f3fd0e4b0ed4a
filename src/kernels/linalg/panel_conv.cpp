// Convs with few positions per plane (a CNN's last stages: 7 x 7 = 49 positions) on panels
// (panel_matrix.h): the register tiles of the row-streaming kernel put positions in the vector
// lanes, so 49 positions fill 64 lanes and a quarter of the arithmetic is padding; here output
// channels fill the lanes (64 per panel) and positions are the broadcast rows, so nothing is
// padded when the channels are a multiple of 64. A 1x1 conv's positions are read where they lie
// in the input (a position's channels a plane apart); other convs gather their receptive fields
// once per run into [K][positions] (a few hundred KiB at these sizes). The sums are the same fp32
// sums in the same order as the row-streaming kernel's, so results are bit for bit the same.
#include "kernels/linalg/panel_conv.h"

#include <algorithm>

#include "kernels/common/convert_simd.h"
#include "kernels/linalg/band_fill_simd.h"
#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/conv_params.h"
#include "kernels/linalg/panel_gemm.h"
#include "kernels/linalg/panel_matrix.h"
#include "kernels/linalg/weight_product_kernel.h"
#include "runtime/thread_pool.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

// Positions one task multiplies with its panel, at most (rounded to whole register tiles).
constexpr int64_t kMaxBlockPositions = 96;
// K positions multiplied per step: a 3x3 conv over 512 channels has a panel of 1.2 MB, past a
// core's L2, and the tiles read it once per 6 positions; in steps of 1024 (256 KB of fp32) that
// part stays in L2 while every tile of the block reads it.
constexpr int64_t kStepK = 1024;
// Products below this many multiply-adds stay on the calling thread (as the row-streaming
// kernel's do).
constexpr int64_t kSerialWork = int64_t{1} << 18;

class PanelConvKernel final : public runtime::OpKernel {
 public:
  // `params` and `weight_shape` for a conv whose receptive fields are gathered; a 1x1 conv with
  // unit strides and no padding (positions read in place) passes an empty weight shape.
  PanelConvKernel(int x, int residual, std::shared_ptr<const PanelMatrix> w,
                  std::vector<float> bias, ConvActivation activation, ConvParams params,
                  std::vector<int64_t> weight_shape)
      : x_(x),
        residual_(residual),
        w_(std::move(w)),
        bias_(std::move(bias)),
        activation_(activation),
        p_(std::move(params)),
        weight_shape_(std::move(weight_shape)) {}

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    out_dtype_ = ctx.declared_dtype(0);
    x_dtype_ = x.dtype();
    const auto is_float = [](DType t) { return t == DType::kFloat32 || t == DType::kFloat16; };
    if (x.rank() < 3 || !x.is_contiguous() || !is_float(x_dtype_) || !is_float(out_dtype_)) {
      ctx.decline();
      return;
    }
    batches_ = x.shape()[0];
    std::vector<int64_t> out_shape;
    if (gathers()) {
      if (x.rank() != static_cast<int64_t>(weight_shape_.size())) {
        ctx.decline();
        return;
      }
      if (const std::string error = conv_shape(x.shape(), weight_shape_, p_, &s_); !error.empty()) {
        ctx.fail(error);
      }
      k_ = s_.cin * s_.kernel_size();
      m_ = s_.out_size();
      out_shape = {s_.n, s_.cout};
      for (int d = 3 - p_.spatial; d < 3; ++d) out_shape.push_back(s_.out[static_cast<size_t>(d)]);
    } else {
      k_ = x.shape()[1];
      m_ = 1;
      for (size_t d = 2; d < x.shape().size(); ++d) m_ *= x.shape()[d];
      out_shape = x.shape();
      out_shape[1] = w_->rows();
    }
    if (k_ != w_->cols()) {
      ctx.fail("input has ", k_, " values per position and the weight ", w_->cols());
    }
    if (!bias_.empty() && static_cast<int64_t>(bias_.size()) != w_->rows()) {
      ctx.fail("bias has ", bias_.size(), " values, expected ", w_->rows());
    }
    if (residual_ >= 0) {
      const Tensor& r = ctx.in(residual_);
      if (r.shape() != out_shape || r.dtype() != out_dtype_ || !r.is_contiguous()) {
        ctx.decline();
        return;
      }
    }
    // Blocks of nearly equal size, whole register tiles each.
    blocks_ = std::max<int64_t>(1, (m_ + kMaxBlockPositions - 1) / kMaxBlockPositions);
    block_positions_ = round_up((m_ + blocks_ - 1) / blocks_, kPanelRows);
    blocks_ = std::max<int64_t>(1, (m_ + block_positions_ - 1) / block_positions_);
    const int threads = std::max(1, ctx.threads());
    serial_ = batches_ * m_ * k_ * w_->rows() < kSerialWork;
    // The fp32 positions: an fp16 input widened, or the gathered receptive fields.
    widened_ = gathers()                     ? round_up(batches_ * k_ * m_, 16)
               : x_dtype_ == DType::kFloat16 ? round_up(x.numel(), 16)
                                             : 0;
    per_thread_ = 2 * kPanelWidth * block_positions_ + block_positions_;
    if (gathers()) {
      // Each gathering task's padded plane (padded_extent: at most the padded input's plane,
      // whose size conv_shape checked).
      padded_size_ = 1;
      for (size_t d = 0; d < 3; ++d) padded_size_ *= std::max<int64_t>(0, padded_extent(d));
      per_thread_ = std::max(per_thread_, round_up(padded_size_, 16));
    }
    ctx.request_scratch(static_cast<size_t>(widened_ + threads * per_thread_) * sizeof(float));
    ctx.set_output(0, std::move(out_shape), out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    if (m_ == 0 || w_->rows() == 0 || batches_ == 0) return;
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    const float* x = static_cast<const float*>(ctx.in(x_).data());
    if (gathers()) {
      // One task per input channel: its plane padded once, then its kernel offsets' rows.
      const int64_t channels = batches_ * s_.cin;
      const int64_t rows_per_channel = s_.kernel_size();
      ctx.pool().parallel_for(
          channels, std::max<int64_t>(1, 4096 / std::max<int64_t>(m_ * rows_per_channel, 1)),
          [&](int64_t begin, int64_t end) {
            float* padded = scratch + widened_ + per_thread_ * runtime::ThreadPool::thread_index();
            for (int64_t channel = begin; channel < end; ++channel) {
              if (x_dtype_ == DType::kFloat32) {
                gather(static_cast<const float*>(ctx.in(x_).data()), channel, padded, scratch);
              } else {
                gather(static_cast<const uint16_t*>(ctx.in(x_).data()), channel, padded, scratch);
              }
            }
          });
      x = scratch;
    } else if (x_dtype_ == DType::kFloat16) {
      const auto* half = static_cast<const uint16_t*>(ctx.in(x_).data());
      ctx.pool().parallel_for(ctx.in(x_).numel(), 4096, [&](int64_t begin, int64_t end) {
        f16_to_f32(half + begin, scratch + begin, end - begin);
      });
      x = scratch;
    }
    auto* out = static_cast<std::byte*>(ctx.out(0).data());
    const auto* residual =
        residual_ >= 0 ? static_cast<const std::byte*>(ctx.in(residual_).data()) : nullptr;
    const int64_t tasks = batches_ * w_->panels() * blocks_;
    // Task order: block, then panel, then batch: consecutive tasks of a thread share the block
    // of positions (in cache) and walk the panels.
    ctx.pool().parallel_for(tasks, serial_ ? tasks : 1, [&](int64_t begin, int64_t end) {
      float* area = scratch + widened_ + per_thread_ * runtime::ThreadPool::thread_index();
      for (int64_t task = begin; task < end; ++task) {
        const int64_t p = task % w_->panels();
        const int64_t block = task / w_->panels() % blocks_;
        const int64_t b = task / (w_->panels() * blocks_);
        multiply(x, b, p, block, residual, out, area);
      }
    });
  }

 private:
  bool gathers() const { return !weight_shape_.empty(); }

  // Along spatial axis d (0..2), the extent of the padded input that the windows reach: output
  // o at kernel offset k reads padded index o * stride + k * dilation (input index less the
  // padding before).
  int64_t padded_extent(size_t d) const {
    return (s_.out[d] - 1) * p_.stride[d] + (s_.kernel[d] - 1) * p_.dilation[d] + 1;
  }

  // The receptive-field rows of input channel `channel` (batch channel / Cin): rows (b, c, r)
  // for every kernel offset r, each the input value every output position reads at that
  // offset. The channel's plane is first copied once as fp32 into `padded`, zeros around it, so
  // that each row is plain runs of it (no bounds per value, fp16 widened once).
  template <typename T>
  void gather(const T* x, int64_t channel, float* padded, float* rows) const {
    const auto& s = s_;
    const int64_t b = channel / s.cin, c = channel % s.cin;
    const int64_t pd = padded_extent(0), ph = padded_extent(1), pw = padded_extent(2);
    std::fill(padded, padded + padded_size_, 0.0f);
    const T* plane = x + (b * s.cin + c) * s.in_size();
    // Input columns [0, width) land at padded columns [before, before + width).
    const int64_t width = std::clamp<int64_t>(pw - s.before[2], 0, s.in[2]);
    for (int64_t iz = 0; iz < s.in[0]; ++iz) {
      const int64_t z = iz + s.before[0];
      if (z >= pd) break;
      for (int64_t iy = 0; iy < s.in[1]; ++iy) {
        const int64_t y = iy + s.before[1];
        if (y >= ph) break;
        const T* line = plane + (iz * s.in[1] + iy) * s.in[2];
        float* dst = padded + (z * ph + y) * pw + s.before[2];
        copy_every(line, sizeof(T) == 2, 1, width, dst);
      }
    }
    const int64_t ksize = s.kernel_size();
    const int64_t sx = p_.stride[2];
    for (int64_t r = 0; r < ksize; ++r) {
      const int64_t kz = r / (s.kernel[1] * s.kernel[2]);
      const int64_t ky = r / s.kernel[2] % s.kernel[1];
      const int64_t kx = r % s.kernel[2];
      float* out = rows + ((b * s.cin + c) * ksize + r) * m_;
      for (int64_t oz = 0; oz < s.out[0]; ++oz) {
        const int64_t z = oz * p_.stride[0] + kz * p_.dilation[0];
        for (int64_t oy = 0; oy < s.out[1]; ++oy) {
          const int64_t y = oy * p_.stride[1] + ky * p_.dilation[1];
          const float* src = padded + (z * ph + y) * pw + kx * p_.dilation[2];
          float* dst = out + (oz * s.out[1] + oy) * s.out[2];
          copy_every(src, false, sx, s.out[2], dst);
        }
      }
    }
  }

  // Positions of block `block` of batch b times panel p, stored with the epilogue.
  void multiply(const float* x, int64_t b, int64_t p, int64_t block, const std::byte* residual,
                std::byte* out, float* area) const {
    float* sums = area;                                      // [block_positions_][64]
    float* columns = sums + kPanelWidth * block_positions_;  // [64][block_positions_]
    float* tmp = columns + kPanelWidth * block_positions_;   // one row
    const int64_t i0 = block * block_positions_;
    const int64_t count = std::min(block_positions_, m_ - i0);
    const float* plane = x + b * k_ * m_;
    const size_t element = w_->half() ? 2 : 4;
    for (int64_t t0 = 0; t0 < std::max<int64_t>(k_, 1); t0 += kStepK) {
      const int64_t steps = std::min(kStepK, k_ - t0);
      const void* panel =
          static_cast<const char*>(w_->panel(p)) + static_cast<size_t>(t0 * kPanelWidth) * element;
      for (int64_t i = 0; i < count; i += kPanelRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kPanelRows, count - i));
        panel_gemm_strided(plane + t0 * m_ + i0 + i, 1, m_, rows, steps, panel, w_->half(), t0 > 0,
                           sums + i * kPanelWidth);
      }
    }
    // Results of a position are a row of channels; the output wants a row per channel.
    for (int64_t i = 0; i < count; ++i) {
      for (int64_t j = 0; j < kPanelWidth; ++j) {
        columns[j * block_positions_ + i] = sums[i * kPanelWidth + j];
      }
    }
    const int64_t c0 = p * kPanelWidth;
    const size_t size = dtype_size(out_dtype_);
    const int64_t first = (b * w_->rows() + c0) * m_ + i0;  // element of channel c0, position i0
    ConvRowsStore s;
    s.tile = columns;
    s.tile_stride = block_positions_;
    s.rows = std::min(kPanelWidth, w_->rows() - c0);
    s.count = count;
    s.bias = bias_.empty() ? nullptr : bias_.data() + c0;
    s.residual = residual ? residual + static_cast<size_t>(first) * size : nullptr;
    s.out = out + static_cast<size_t>(first) * size;
    s.out_stride = m_;
    s.half = out_dtype_ == DType::kFloat16;
    store_conv_rows(activation_, s, tmp);
  }

  int x_, residual_;
  std::shared_ptr<const PanelMatrix> w_;
  std::vector<float> bias_;
  ConvActivation activation_;
  ConvParams p_;
  std::vector<int64_t> weight_shape_;
  ConvShape s_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
  int64_t batches_ = 0, k_ = 0, m_ = 0;
  int64_t blocks_ = 1, block_positions_ = kPanelRows;
  bool serial_ = false;
  int64_t widened_ = 0, per_thread_ = 0, padded_size_ = 0;
};

// Vector-lane work of each orientation per K position (padding included), for n outputs and m
// positions: the row-streaming tiles (6 outputs x 16-position vectors; passes of 64) and the
// panels (64-output panels x positions).
int64_t row_streaming_lanes(int64_t n, int64_t m) {
  const int64_t lanes = m / 64 * 64 + round_up(m % 64, 16);
  return round_up(n, 6) * lanes;
}
int64_t panel_lanes(int64_t n, int64_t m) { return round_up(n, kPanelWidth) * m; }

}  // namespace

bool panel_conv_pays(int64_t outputs, int64_t positions, bool pointwise) {
  if (outputs <= 0 || positions <= 1) return false;
  const int64_t panels = panel_lanes(outputs, positions);
  const int64_t rows = row_streaming_lanes(outputs, positions);
  // A pointwise conv reads its positions in place on panels, where the row-streaming kernel
  // packs them whenever a plane is not a whole number of vectors: 4 % fewer lanes are enough
  // (ResNet-50's 14 x 14 1x1 convs, 256 and 1024 outputs: 6 % fewer, 8-10 % faster on panels;
  // EfficientNet's 672 outputs end in half a panel, 1 % fewer, and were 5 % slower there).
  // Otherwise panels gather receptive fields where rows read line tokens, and they must win
  // clearly (their 1-row remainder tiles and the transposed store cost something too).
  if (pointwise) return panels * 100 <= rows * 96;
  return panels * 10 <= rows * 9;
}

std::unique_ptr<runtime::OpKernel> make_panel_conv(const runtime::RtValue& weight, int x,
                                                   int residual, std::vector<float> bias,
                                                   ConvActivation activation,
                                                   const ConvParams& params, bool pointwise) {
  if (weight.compressed || weight.tensor.rank() < 3 || !weight.tensor.is_contiguous() ||
      params.groups != 1) {
    return nullptr;
  }
  const auto& ws = weight.tensor.shape();
  int64_t k = 1;
  for (size_t d = 1; d < ws.size(); ++d) k *= ws[d];
  runtime::RtValue matrix = weight;
  matrix.tensor = weight.tensor.reshape({ws[0], k});
  auto panels = PanelMatrix::create(matrix, false);
  if (!panels) return nullptr;
  return std::make_unique<PanelConvKernel>(x, residual, std::move(panels), std::move(bias),
                                           activation, params,
                                           pointwise ? std::vector<int64_t>{} : ws);
}

}  // namespace coreml::kernels::linalg
