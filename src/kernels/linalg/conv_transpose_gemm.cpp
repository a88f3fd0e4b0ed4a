// The prepared conv_transpose whose stride equals its kernel (UNet's upsampling): a GEMM
// plus a scatter of each result row into the output.
#include <optional>
#include <vector>

#include "kernels/common/prefetch.h"
#include "kernels/linalg/conv_params.h"
#include "kernels/linalg/linalg_ops.h"
#include "kernels/linalg/weight_product_kernel.h"
#include "runtime/packed_weights.h"

namespace coreml::kernels::linalg {
namespace {

// conv_transpose whose stride equals its kernel (no overlap: UNet's upsampling), one group,
// no dilation or padding: out[co, i * s + k] = sum_ci x[ci, i] w[ci, co, k] + bias[co], a GEMM
// of the weight as rows (co, k) over ci with the input positions as tokens; each result row
// lands on every s-th output element.
class ConvTransposeKernel final : public WeightProductKernel {
 public:
  ConvTransposeKernel(int x, std::shared_ptr<const WeightMatrix> w, std::vector<float> bias,
                      std::array<int64_t, 3> kernel, int spatial, int64_t cout,
                      std::optional<std::vector<int64_t>> output_shape)
      : WeightProductKernel(x, std::move(w), {}),
        co_bias_(std::move(bias)),
        kernel_(kernel),
        spatial_(spatial),
        cout_(cout),
        output_shape_(std::move(output_shape)) {}

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    (void)ctx;
    if (!x.is_contiguous() || x.rank() != spatial_ + 2) return false;
    in_ = spatial3(x.shape());
    g.batches = x.shape()[0];
    g.k = x.shape()[1];
    g.m = in_[0] * in_[1] * in_[2];
    if (g.m < 2) return false;
    g.n = cout_ * kernel_[0] * kernel_[1] * kernel_[2];
    g.xm = 1;
    g.xk = g.m;
    g.xb = g.k * g.m;
    out_shape = {x.shape()[0], cout_};
    for (int d = 3 - spatial_; d < 3; ++d) {
      int64_t extent = 0;
      if (__builtin_mul_overflow(in_[static_cast<size_t>(d)], kernel_[static_cast<size_t>(d)],
                                 &extent)) {
        return false;  // the simple kernel names the overflow
      }
      out_shape.push_back(extent);
    }
    // Converters often state the output shape; only the one this layout produces (no
    // cropping, no extra border) is ours, anything else goes to the simple kernel.
    if (output_shape_) {
      const auto& os = *output_shape_;
      if (os.size() != static_cast<size_t>(spatial_) && os.size() != out_shape.size()) return false;
      for (int d = 0; d < spatial_; ++d) {
        if (os[os.size() - static_cast<size_t>(spatial_ - d)] !=
            out_shape[static_cast<size_t>(d + 2)]) {
          return false;
        }
      }
    }
    return true;
  }

  bool scatters() const override { return true; }

  void scatter(const float* tile, int64_t stride, int64_t r0, int64_t r1, int64_t count, int64_t b,
               int64_t m0, std::byte* out, float* tmp) const override {
    const int64_t ksize = kernel_[0] * kernel_[1] * kernel_[2];
    for (int64_t r = r0; r < r1; ++r) {
      const float* values = tile + (r - r0) * stride;
      // Kernels 2 wide (a UNet's 2x2 up-convolutions): rows kw = 0 and 1 of one output channel
      // and kernel line fill the output's columns alternately, so the pair goes out as one
      // contiguous run instead of two runs of every other value (a fifth of such a conv's time).
      // (Rows are (co, k) with k's last digit kw, so an even row has kw = 0.)
      if (kernel_[2] == 2 && r % 2 == 0 && r + 1 < r1) {
        scatter_pair(values, values + stride, count, b, m0, r / ksize, r % ksize, out, tmp);
        ++r;
        continue;
      }
      scatter_row(values, count, b, m0, r / ksize, r % ksize, out, tmp);
    }
  }

 private:
  // The output element where kernel offset k of output channel co puts input position pos
  // (batch b).
  int64_t output_at(int64_t b, int64_t co, int64_t k, int64_t pos) const {
    const int64_t kd = k / (kernel_[1] * kernel_[2]), kh = (k / kernel_[2]) % kernel_[1],
                  kw = k % kernel_[2];
    const int64_t oh_size = in_[1] * kernel_[1], ow_size = in_[2] * kernel_[2];
    const int64_t plane = in_[0] * kernel_[0] * oh_size * ow_size;
    const int64_t iw = pos % in_[2];
    const int64_t line = pos / in_[2];
    const int64_t ih = line % in_[1], id = line / in_[1];
    const int64_t od = id * kernel_[0] + kd, oh = ih * kernel_[1] + kh;
    return (b * cout_ + co) * plane + (od * oh_size + oh) * ow_size + iw * kernel_[2] + kw;
  }

  const float* bias_of(int64_t co) const {
    return co_bias_.empty() ? nullptr : &co_bias_[static_cast<size_t>(co)];
  }

  // One row: along an input row, outputs are kernel_w apart (one strided run per input row).
  void scatter_row(const float* values, int64_t count, int64_t b, int64_t m0, int64_t co, int64_t k,
                   std::byte* out, float* tmp) const {
    for (int64_t pos = m0; pos < m0 + count;) {
      const int64_t run = std::min(m0 + count - pos, in_[2] - pos % in_[2]);
      store_run(values + (pos - m0), run, out, out_dtype(), output_at(b, co, k, pos), kernel_[2],
                bias_of(co), false, tmp);
      pos += run;
    }
  }

  // Rows k (kw = 0) and k + 1 (kw = 1) interleaved into tmp (with the bias), stored contiguously.
  void scatter_pair(const float* even, const float* odd, int64_t count, int64_t b, int64_t m0,
                    int64_t co, int64_t k, std::byte* out, float* tmp) const {
    // The bias as store_run adds it: to every value wherever the op has one.
    const float* bias = bias_of(co);
    const auto item = static_cast<uint64_t>(dtype_size(out_dtype()));
    constexpr int64_t kPairs = kPassTokens / 2;
    for (int64_t pos = m0; pos < m0 + count;) {
      const int64_t run = std::min({m0 + count - pos, in_[2] - pos % in_[2], kPairs});
      const float* e = even + (pos - m0);
      const float* o = odd + (pos - m0);
      for (int64_t i = 0; i < run; ++i) {
        tmp[2 * i] = bias ? e[i] + *bias : e[i];
        tmp[2 * i + 1] = bias ? o[i] + *bias : o[i];
      }
      const int64_t first = output_at(b, co, k, pos);
      store_run(tmp, 2 * run, out, out_dtype(), first, 1, nullptr, false, tmp + 2 * run);
      // The run after this one (the next pass's, on lines not yet in cache: one stream per
      // output line, too many for the hardware prefetcher).
      prefetch_run<1>(out, static_cast<uint64_t>(first + 2 * run) * item,
                      static_cast<uint64_t>(2 * run) * item);
      pos += run;
    }
  }

  std::vector<float> co_bias_;  // per output channel
  std::array<int64_t, 3> kernel_;
  int spatial_;
  int64_t cout_;
  std::optional<std::vector<int64_t>> output_shape_;  // as the op states it, when it does
  std::array<int64_t, 3> in_{};
};

}  // namespace

std::unique_ptr<runtime::OpKernel> make_conv_transpose(const KernelInit& init) {
  const int x = init.binding("x");
  const runtime::RtValue* weight = init.constant(init.binding("weight"));
  if (x < 0 || !weight || weight->compressed) return nullptr;
  const auto& ws = weight->shape();
  if (ws.size() < 3 || ws.size() > 5) return nullptr;
  const DType wt = weight->tensor.dtype();
  if (wt != DType::kFloat32 && wt != DType::kFloat16) return nullptr;
  const ConvParams p = read_conv_params(init.params(), static_cast<int64_t>(ws.size()));
  if (p.groups != 1) return nullptr;
  // A stated output shape must be constant: it is compared with the natural one at reshape.
  std::optional<std::vector<int64_t>> output_shape;
  if (init.params().has("output_shape")) {
    const int shape_binding = init.binding("output_shape");
    if (shape_binding < 0 || init.constant(shape_binding) == nullptr) return nullptr;
    output_shape = init.params().get_ints("output_shape");
  }
  if (p.pad_type != "valid" && p.pad_type != "custom") return nullptr;
  const auto kernel = spatial3(ws);
  for (size_t d = 0; d < 3; ++d) {
    if (p.stride[d] != kernel[d] || p.dilation[d] != 1 || p.custom_before[d] != 0 ||
        p.custom_after[d] != 0) {
      return nullptr;
    }
  }
  bool ok = false;
  auto bias = constant_bias(init, &ok);
  if (!ok || (!bias.empty() && static_cast<int64_t>(bias.size()) != ws[1])) return nullptr;
  // [Cin, Cout, K...] is [K = Cin, N = Cout * K...] for the product: rows (co, k) over ci,
  // which the matrix makes as its own transposed copy, in the weight's dtype.
  const int64_t cin = ws[0], cout = ws[1];
  const int64_t ksize = kernel[0] * kernel[1] * kernel[2];
  auto matrix = WeightMatrix::create(
      runtime::RtValue::of(weight->tensor.reshape({cin, cout * ksize}), true), true);
  if (!matrix) return nullptr;
  // The copy is the kernel's: the weight file's pages need not stay in memory.
  runtime::drop_file_pages(weight->tensor);
  return std::make_unique<ConvTransposeKernel>(x, std::move(matrix), std::move(bias), kernel,
                                               p.spatial, cout, std::move(output_shape));
}

}  // namespace coreml::kernels::linalg
