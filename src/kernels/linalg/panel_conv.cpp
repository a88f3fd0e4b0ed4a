// Convs with few positions per plane (a CNN's last stages: 7 x 7 = 49 positions) on panels
// (panel_matrix.h): the register tiles of the row-streaming kernel put positions in the vector
// lanes, so 49 positions fill 64 lanes and a quarter of the arithmetic is padding; here output
// channels fill the lanes (64 per panel) and positions are the broadcast rows, so nothing is
// padded when the channels are a multiple of 64. The same holds for narrow planes that the
// row-streaming kernel reads as line tokens, each output line as wide as an input line (14 x 14:
// 16 lanes per 14 outputs). A 1x1 conv's positions are read where they lie in the input (a
// position's channels a plane apart); other convs read a receptive field's value at a position's
// offset plus a kernel tap's (strides and dilations are only offsets) in zero-padded planes.
// Gathering the receptive fields into [K][positions] instead copied every value once per tap
// (1.8 MB for a 14 x 14 3x3 conv of 256 channels, past L2). The sums are the same fp32 sums in
// the same order as the row-streaming kernel's, so results are bit for bit the same.
//
// Each thread pads, into its own area, only the window of the padded planes that its block of
// positions reads (a band of lines and their halo, every channel), just before multiplying it.
// Planes padded once by all threads together made every thread read, value by value, lines
// that another core had just written: while a VM's two vCPUs sat far apart on the host (a cache
// line's round trip between them 330 ns instead of 55-100), ResNet-18 on 2 threads took 23.6 ms a
// step with shared planes and 20.7 with bands (18.4 and 18.2 while they sat close).
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

// Positions one task multiplies with its panel, at most (rounded to whole register tiles). Each
// block streams every panel once, from L3 or memory in a network whose weights pass a step only
// once: 14 x 14 planes in one block rather than three cut a chain of twelve 256-channel 3x3
// convs from 34.2-34.6 to 32.2-32.5 ms (1 thread), of 1x1 convs 256 <-> 1024 from 16.3-16.6 to
// 15.8-16.0.
constexpr int64_t kMaxBlockPositions = 200;
// Blocks no smaller than this when split further for the threads.
constexpr int64_t kMinThreadBlockPositions = 48;
// K positions multiplied per step: a 3x3 conv over 512 channels has a panel of 1.2 MB, past a
// core's L2, and the tiles read it once per 6 positions; in steps of 1024 (256 KB of fp32) that
// part stays in L2 while every tile of the block reads it.
constexpr int64_t kStepK = 1024;
// K positions below which convs keep line tokens where panels only save their lanes' padding
// (panel_conv_pays).
constexpr int64_t kMinLinePanelK = 512;
// K positions below which pointwise convs need 10 % fewer lanes on panels, not 4 %.
constexpr int64_t kMinPointwisePanelK = 64;
// K positions from which panels pay against line tokens with as many lanes, not 4 % fewer.
constexpr int64_t kEvenLinePanelK = 1024;
// The bands of all threads together (fill_band), at most.
constexpr int64_t kMaxBandsBytes = int64_t{64} << 20;
// A thread's share of a conv's work past this times the most even split's makes run() split the
// positions instead (PanelConvKernel::most_thread_work).
constexpr double kUnevenWork = 1.15;
constexpr int64_t kMaxCountedTasks = 4096;
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
    const int threads = std::max(1, ctx.threads());
    threads_ = threads;
    serial_ = batches_ * m_ * k_ * w_->rows() < kSerialWork;
    blocks_ = std::max<int64_t>(1, (m_ + kMaxBlockPositions - 1) / kMaxBlockPositions);
    // Two tasks per thread at least where the positions allow (one panel of a 14 x 14 plane
    // would otherwise be one task).
    const int64_t panel_tasks = batches_ * w_->panels();
    if (!serial_ && threads > 1 && panel_tasks * blocks_ < 2 * threads) {
      const int64_t wanted = (2 * threads + panel_tasks - 1) / panel_tasks;
      blocks_ = std::max(blocks_, std::min(wanted, m_ / kMinThreadBlockPositions));
    }
    block_positions_ = round_up((m_ + blocks_ - 1) / blocks_, kPanelRows);
    blocks_ = std::max<int64_t>(1, (m_ + block_positions_ - 1) / block_positions_);
    // Few positions and panels that do not share out evenly (576 -> 96 channels over 7 x 7 is
    // a 64- and a 32-wide panel: one thread had twice the other's work): a block of positions
    // per thread instead, each over every panel (the threads stream every panel then).
    if (!serial_ && threads > 1 && blocks_ < threads && m_ >= threads * kPanelRows) {
      const int64_t even = (m_ + threads - 1) / threads;
      if (most_thread_work(blocks_, block_positions_, threads) >
          kUnevenWork * static_cast<double>(most_thread_work(threads, even, threads))) {
        block_positions_ = even;
        blocks_ = (m_ + even - 1) / even;
      }
    }
    if (gathers()) {
      plan_offsets();
      // Every thread holds a band: a hostile padding or dilation (a window of a huge padded
      // plane) would multiply that by the threads; the simple kernel takes such a conv.
      if (static_cast<double>(s_.cin) * static_cast<double>(window_) * sizeof(float) * threads >
          static_cast<double>(kMaxBandsBytes)) {
        ctx.decline();
        return;
      }
    }
    // Per thread: the sums, their transposition and a store row; a band and the block it holds:
    // a conv's channels' windows, or a pointwise fp16 input's block of positions widened (K
    // rows of block_positions_), each read by every panel of the block.
    band_at_ = round_up(2 * kPanelWidth * block_positions_ + block_positions_, 16) + kHeldFloats;
    const int64_t band = gathers() ? s_.cin * window_ : banded() ? k_ * block_positions_ : 0;
    per_thread_ = band_at_ + round_up(band, 16);
    ctx.request_scratch(static_cast<size_t>(threads * per_thread_) * sizeof(float));
    ctx.set_output(0, std::move(out_shape), out_dtype_);
  }

  // The output may overwrite the residual: store_conv_rows reads each element's residual just
  // before it stores that element (see WeightProductKernel::in_place_input).
  int in_place_input() const override { return residual_; }

  void run(runtime::RunContext& ctx) override {
    if (m_ == 0 || w_->rows() == 0 || batches_ == 0) return;
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    const float* x = static_cast<const float*>(ctx.in(x_).data());
    if (banded()) {
      // No thread holds a band of this run's input yet.
      for (int t = 0; t < threads_; ++t) held_block(scratch + per_thread_ * t + band_at_) = -1;
    }
    auto* out = static_cast<std::byte*>(ctx.out(0).data());
    const auto* residual =
        residual_ >= 0 ? static_cast<const std::byte*>(ctx.in(residual_).data()) : nullptr;
    const int64_t tasks = batches_ * w_->panels() * blocks_;
    // Task order: block, then panel, then batch: consecutive tasks of a thread share the block
    // of positions (in cache) and walk the panels.
    ctx.pool().parallel_for(tasks, serial_ ? tasks : 1, [&](int64_t begin, int64_t end) {
      float* area = scratch + per_thread_ * runtime::ThreadPool::thread_index();
      for (int64_t task = begin; task < end; ++task) {
        const int64_t p = task % w_->panels();
        const int64_t block = task / w_->panels() % blocks_;
        const int64_t b = task / (w_->panels() * blocks_);
        if (banded()) fill_band(ctx, b, block, area);
        multiply(x, b, p, block, residual, out, area);
      }
    });
  }

 private:
  bool gathers() const { return !weight_shape_.empty(); }
  // Whether a task reads its block of positions from a band (fill_band) rather than in place.
  bool banded() const { return gathers() || x_dtype_ == DType::kFloat16; }

  // The most multiply-adds (per K position) one thread does when run() splits the positions into
  // `blocks` blocks of `block_positions`, each thread taking its home run of tasks
  // (ThreadPool::home_range); 0 when the tasks are too many to count here.
  int64_t most_thread_work(int64_t blocks, int64_t block_positions, int threads) const {
    const int64_t panels = w_->panels();
    const int64_t tasks = batches_ * panels * blocks;
    if (tasks > kMaxCountedTasks) return 0;
    int64_t most = 0;
    for (int t = 0; t < threads; ++t) {
      const auto [begin, end] = runtime::ThreadPool::home_range(tasks, 1, threads, t);
      int64_t work = 0;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t p = task % panels, block = task / panels % blocks;
        const int64_t positions = std::min(block_positions, m_ - block * block_positions);
        work += positions * std::min(kPanelWidth, w_->rows() - p * kPanelWidth);
      }
      most = std::max(most, work);
    }
    return most;
  }

  // Along spatial axis d (0..2), the extent of the padded input that the windows reach: output
  // o at kernel offset k reads padded index o * stride + k * dilation (input index less the
  // padding before).
  int64_t padded_extent(size_t d) const {
    return (s_.out[d] - 1) * p_.stride[d] + (s_.kernel[d] - 1) * p_.dilation[d] + 1;
  }

  // Where the receptive fields are read: a position's offset (its receptive field's first value)
  // plus a K position's (channel and kernel tap), in a band of its block's windows. A block's
  // window is the run of a padded plane [depth][lines][columns] from the block's first
  // position's offset to its last position's plus the last tap's (positions in order have
  // increasing offsets); a band holds window_ floats per channel, the block's window starting
  // at window_start_[block] of each plane, so position offsets are kept relative to that.
  void plan_offsets() {
    const auto& s = s_;
    const int64_t pd = padded_extent(0), ph = padded_extent(1), pw = padded_extent(2);
    padded_size_ = std::max<int64_t>(0, pd) * std::max<int64_t>(0, ph) * std::max<int64_t>(0, pw);
    auto tap = [&](int64_t kz, int64_t ky, int64_t kx) {
      return (kz * p_.dilation[0] * ph + ky * p_.dilation[1]) * pw + kx * p_.dilation[2];
    };
    position_offsets_.resize(static_cast<size_t>(m_));
    size_t i = 0;
    for (int64_t oz = 0; oz < s.out[0]; ++oz) {
      for (int64_t oy = 0; oy < s.out[1]; ++oy) {
        for (int64_t ox = 0; ox < s.out[2]; ++ox) {
          position_offsets_[i++] =
              (oz * p_.stride[0] * ph + oy * p_.stride[1]) * pw + ox * p_.stride[2];
        }
      }
    }
    const int64_t last_tap = tap(s.kernel[0] - 1, s.kernel[1] - 1, s.kernel[2] - 1);
    window_ = 0;
    window_start_.assign(static_cast<size_t>(blocks_), 0);
    for (int64_t block = 0; block < blocks_; ++block) {
      const int64_t i0 = block * block_positions_;
      const int64_t i1 = std::min(m_, i0 + block_positions_) - 1;
      const int64_t start = position_offsets_[static_cast<size_t>(i0)];
      window_start_[static_cast<size_t>(block)] = start;
      window_ =
          std::max(window_, position_offsets_[static_cast<size_t>(i1)] + last_tap + 1 - start);
      for (int64_t j = i0; j <= i1; ++j) position_offsets_[static_cast<size_t>(j)] -= start;
    }
    const int64_t ksize = s.kernel_size();
    k_offsets_.resize(static_cast<size_t>(k_));
    for (int64_t t = 0; t < k_; ++t) {
      const int64_t r = t % ksize;
      k_offsets_[static_cast<size_t>(t)] =
          t / ksize * window_ +
          tap(r / (s.kernel[1] * s.kernel[2]), r / s.kernel[2] % s.kernel[1], r % s.kernel[2]);
    }
  }

  // The (batch, block) whose band a thread's area holds, or -1: kept in the cache line before
  // the band (which stays aligned).
  static constexpr int64_t kHeldFloats = 16;
  static int64_t& held_block(float* band) {
    return *reinterpret_cast<int64_t*>(band - kHeldFloats);
  }

  // The windows of batch b's channels for `block` into the thread's band (pointwise: the
  // block's positions of each channel, widened), unless it holds them already (consecutive
  // tasks of a thread share a block and walk the panels).
  void fill_band(runtime::RunContext& ctx, int64_t b, int64_t block, float* area) const {
    float* band = area + band_at_;
    int64_t& held = held_block(band);
    if (held == b * blocks_ + block) return;
    held = b * blocks_ + block;
    if (!gathers()) {
      const int64_t i0 = block * block_positions_;
      const int64_t count = std::min(block_positions_, m_ - i0);
      const auto* plane = static_cast<const uint16_t*>(ctx.in(x_).data()) + b * k_ * m_ + i0;
      for (int64_t t = 0; t < k_; ++t) {
        f16_to_f32(plane + t * m_, band + t * block_positions_, count);
      }
      return;
    }
    const int64_t start = window_start_[static_cast<size_t>(block)];
    const int64_t end = std::min(start + window_, padded_size_);
    for (int64_t c = 0; c < s_.cin; ++c) {
      float* dst = band + c * window_;
      if (x_dtype_ == DType::kFloat32) {
        pad(static_cast<const float*>(ctx.in(x_).data()), b * s_.cin + c, start, end, dst);
      } else {
        pad(static_cast<const uint16_t*>(ctx.in(x_).data()), b * s_.cin + c, start, end, dst);
      }
      // A window past the plane's end (the last block's may be shorter than window_) is never
      // read; zeros keep it defined.
      std::fill(dst + (end - start), dst + window_, 0.0f);
    }
  }

  // Values [first, last) of input channel `channel`'s (batch channel / Cin) padded plane as
  // fp32 into dst: zeros around the input, each value written once. Padded lines and columns
  // that no window reaches are not in the plane.
  template <typename T>
  void pad(const T* x, int64_t channel, int64_t first, int64_t last, float* dst) const {
    const auto& s = s_;
    const int64_t ph = padded_extent(1), pw = padded_extent(2);
    const T* plane = x + channel * s.in_size();
    // Input columns [0, width) land at padded columns [lead, lead + width).
    const int64_t lead = std::min(s.before[2], pw);
    const int64_t width = std::clamp<int64_t>(pw - s.before[2], 0, s.in[2]);
    for (int64_t at = first; at < last;) {
      const int64_t line = at / pw, c0 = at % pw;
      const int64_t c1 = std::min(pw, c0 + (last - at));
      float* out = dst + (at - first);
      const int64_t iz = line / ph - s.before[0], iy = line % ph - s.before[1];
      if (iz < 0 || iz >= s.in[0] || iy < 0 || iy >= s.in[1]) {
        std::fill(out, out + (c1 - c0), 0.0f);
      } else {
        // Columns [c0, c1): zeros, the input's [copy0, copy1), zeros.
        const int64_t copy0 = std::clamp(lead, c0, c1);
        const int64_t copy1 = std::clamp(lead + width, copy0, c1);
        std::fill(out, out + (copy0 - c0), 0.0f);
        copy_every(plane + (iz * s.in[1] + iy) * s.in[2] + (copy0 - lead), sizeof(T) == 2, 1,
                   copy1 - copy0, out + (copy0 - c0));
        std::fill(out + (copy1 - c0), out + (c1 - c0), 0.0f);
      }
      at += c1 - c0;
    }
  }

  // Positions of block `block` of batch b times panel p, stored with the epilogue.
  void multiply(const float* x, int64_t b, int64_t p, int64_t block, const std::byte* residual,
                std::byte* out, float* area) const {
    float* sums = area;                                         // [block_positions_][64]
    float* by_channel = sums + kPanelWidth * block_positions_;  // [64][block_positions_]
    float* tmp = by_channel + kPanelWidth * block_positions_;   // one row
    const int64_t i0 = block * block_positions_;
    const int64_t count = std::min(block_positions_, m_ - i0);
    const float* planes = area + band_at_;  // the block's band (fill_band)
    const size_t element = w_->half() ? 2 : 4;
    const int64_t c0 = p * kPanelWidth;
    const int columns = static_cast<int>(std::min(kPanelWidth, w_->rows() - c0));
    for (int64_t t0 = 0; t0 < std::max<int64_t>(k_, 1); t0 += kStepK) {
      const int64_t steps = std::min(kStepK, k_ - t0);
      const void* panel =
          static_cast<const char*>(w_->panel(p)) + static_cast<size_t>(t0 * kPanelWidth) * element;
      const int rows = static_cast<int>(count);
      if (gathers()) {
        panel_gemm_offsets(planes, position_offsets_.data() + i0, k_offsets_.data() + t0, rows,
                           columns, steps, panel, w_->half(), t0 > 0, sums);
      } else if (banded()) {
        panel_gemm_strided(planes + t0 * block_positions_, 1, block_positions_, rows, columns,
                           steps, panel, w_->half(), t0 > 0, sums);
      } else {
        panel_gemm_strided(x + (b * k_ + t0) * m_ + i0, 1, m_, rows, columns, steps, panel,
                           w_->half(), t0 > 0, sums);
      }
    }
    // Results of a position are a row of channels; the output wants a row per channel.
    panel_columns(sums, count, columns, by_channel, block_positions_);
    const size_t size = dtype_size(out_dtype_);
    const int64_t first = (b * w_->rows() + c0) * m_ + i0;  // element of channel c0, position i0
    ConvRowsStore s;
    s.tile = by_channel;
    s.tile_stride = block_positions_;
    s.rows = columns;
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
  int threads_ = 1;
  int64_t per_thread_ = 0, band_at_ = 0, padded_size_ = 0, window_ = 0;
  std::vector<int64_t> position_offsets_, k_offsets_, window_start_;  // plan_offsets
};

// Vector-lane work of each orientation per K position (padding included), for n outputs and m
// positions: the row-streaming tiles (6 outputs x 16-position vectors; passes of 64) and the
// panels (outputs in vectors, a last panel's only as many as hold live outputs, x positions;
// or counted in whole 64-wide panels, as the rules for spatial convs were measured). In
// double: declared sizes come from the file.
double row_streaming_lanes(int64_t n, int64_t m) {
  const int64_t lanes = m / 64 * 64 + round_up(m % 64, 16);
  return static_cast<double>(round_up(n, 6)) * static_cast<double>(lanes);
}
double panel_lanes(int64_t n, int64_t m, int64_t width) {
  return static_cast<double>(round_up(n, width)) * static_cast<double>(m);
}

}  // namespace

bool panel_conv_pays(int64_t outputs, int64_t positions, int64_t line_positions, int64_t k,
                     bool pointwise) {
  if (outputs <= 0 || positions <= 1) return false;
  const double rows = row_streaming_lanes(outputs, positions);
  // A pointwise conv reads its positions in place on panels, where the row-streaming kernel
  // packs them whenever a plane is not a whole number of vectors: 4 % fewer lanes are enough
  // (ResNet-50's 14 x 14 1x1 convs, 256 and 1024 outputs: 6 % fewer, 8-10 % faster on panels;
  // EfficientNet's 672 outputs end in half a panel, 1 % fewer, and were 5 % slower there).
  // Below K = 64 the transposed store weighs more against the few products: MobileNetV3's
  // 1x1 convs from 48 channels to 144 and 288 on 14 x 14 (5.8 % fewer lanes) were 3-6 % slower
  // on panels, its 120 to 48 one 20 % faster.
  if (pointwise) {
    const double panels = panel_lanes(outputs, positions, panel_gemm_lanes());
    return panels * 100 <= rows * (k >= kMinPointwisePanelK ? 96 : 90);
  }
  // Spatial convs count whole panels: counted in vectors, MobileNetV3's stem (16 outputs, K =
  // 27, 11 % fewer lanes than row streaming) took panels and ran 25 % slower there.
  const double panels = panel_lanes(outputs, positions, kPanelWidth);
  // Otherwise against packed tokens panels must win clearly (their 1-row remainder tiles and
  // the transposed store cost something too)...
  if (panels * 10 <= rows * 9) return true;
  // ...and against line tokens, which compute each output line as wide as an input line (a
  // 14-wide 3x3 conv: 16 lanes per 14 outputs), 4 % fewer lanes pay where K is long enough to
  // hide the store's transposition: ResNet's 14 x 14 3x3 convs (K = 2304) 12 % faster on one
  // thread, its 28 x 28 ones (K = 1152) 7 %; a UNet's 128-wide ones with 64 outputs (K = 576 and
  // 1152, 4.5 % fewer lanes) 6-9 % (with the AVX2 panel passes of 8 KB); its stride-2 1x1 convs
  // (K = 64) and its stem (K = 147) were 20-60 % slower on panels, and 64 outputs on 256-wide
  // planes (4 % fewer) no faster. From K = 1024 on, as many lanes are enough: Whisper's 1-D
  // conv2 (384 outputs over 1500 positions at stride 2, K = 1152, the same lanes either way)
  // ran 13 % faster on panels on one thread, no slower on two.
  if (k < kMinLinePanelK || line_positions <= 0) return false;
  const double line_lanes =
      static_cast<double>(round_up(outputs, 6)) * static_cast<double>(line_positions);
  return panels * 100 <= line_lanes * (k >= kEvenLinePanelK ? 100 : 96);
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
