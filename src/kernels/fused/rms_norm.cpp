// coreml.rms_norm(x, weight?, epsilon): what ANEMLL's layer_norm-over-concat([x, -x]) pattern
// computes (runtime/fusion), without building the doubled row. The statistics are accumulated
// as layer_norm does (fp64, the row counted twice), the normalized value is rounded to the
// layer_norm's declared dtype, then multiplied by the weight and rounded to the output dtype.
#include <cmath>

#include "kernels/common/layout.h"
#include "kernels/fused/fused_common.h"
#include "kernels/fused/row_io.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels::fused {
namespace {

class RmsNormKernel final : public runtime::OpKernel {
 public:
  RmsNormKernel(const runtime::KernelInit& init, int x, std::vector<float> weight, double epsilon)
      : x_(x),
        weight_(std::move(weight)),
        epsilon_(epsilon),
        normalized_fp16_(names_fp16(init.op(), "normalized_dtype")) {}

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    out_dtype_ = ctx.declared_dtype(0);
    if ((x.dtype() != DType::kFloat16 && x.dtype() != DType::kFloat32) ||
        (out_dtype_ != DType::kFloat16 && out_dtype_ != DType::kFloat32)) {
      ctx.fail("takes fp16 or fp32 tensors");
    }
    if (x.rank() < 1 || x.rank() > kMaxLayoutRank) ctx.fail("x has rank ", x.rank());
    h_ = x.shape().back();
    if (!weight_.empty() && static_cast<int64_t>(weight_.size()) != h_) {
      ctx.fail("weight has ", weight_.size(), " values, x's last axis ", h_);
    }
    shape_ = Layout::dense(x.shape());
    x_layout_ = Layout::of(x);
    x_dtype_ = x.dtype();
    // Per thread: the row in fp32 and its fp16 rounding.
    per_thread_ = h_ + (h_ + 1) / 2 + 16;
    ctx.request_scratch(static_cast<size_t>(ctx.threads()) * static_cast<size_t>(per_thread_) *
                        sizeof(float));
    ctx.set_output(0, x.shape(), out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    const void* x = ctx.in(x_).data();
    void* out = ctx.out(0).data();
    const int64_t rows = row_count(shape_);
    const int64_t xs =
        x_layout_.rank ? x_layout_.strides[static_cast<size_t>(x_layout_.rank - 1)] : 1;
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    ctx.pool().parallel_for(
        rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, h_)),
        [&](int64_t begin, int64_t end) {
          float* row = scratch + runtime::ThreadPool::thread_index() * per_thread_;
          auto* half = reinterpret_cast<uint16_t*>(row + h_);
          for_each_row<1>(shape_, {&x_layout_}, begin, end,
                          [&](int64_t r, const std::array<int64_t, 1>& off) {
                            load_row(x, x_dtype_, off[0], xs, h_, row);
                            // layer_norm over [x, -x]: mean 0; the squares of both halves, in fp64,
                            // in its order.
                            double sq = 0;
                            for (int pass = 0; pass < 2; ++pass) {
                              for (int64_t j = 0; j < h_; ++j)
                                sq += static_cast<double>(row[j]) * row[j];
                            }
                            const double var = h_ > 0 ? sq / static_cast<double>(2 * h_) : 0.0;
                            const double inv_std = 1.0 / std::sqrt(var + epsilon_);
                            for (int64_t j = 0; j < h_; ++j) {
                              row[j] = static_cast<float>(row[j] * inv_std) * 1.0f + 0.0f;
                            }
                            if (normalized_fp16_) round_row_to_fp16(row, half, h_);
                            if (!weight_.empty()) {
                              const float* w = weight_.data();
                              for (int64_t j = 0; j < h_; ++j) row[j] *= w[j];
                            }
                            store_row(row, out, out_dtype_, r * h_, h_);
                          });
        });
  }

 private:
  int x_;
  std::vector<float> weight_;
  double epsilon_;
  bool normalized_fp16_;
  int64_t h_ = 0, per_thread_ = 0;
  Layout shape_, x_layout_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
};

}  // namespace

std::unique_ptr<runtime::OpKernel> make_rms_norm(const runtime::KernelInit& init) {
  const int x = init.binding("x");
  std::vector<float> weight;
  const int w = init.binding("weight");
  if (w >= 0) {
    const runtime::RtValue* value = init.constant(w);
    if (!value) init.fail("weight must be a constant");
    weight = value->dense().to(DType::kFloat32).to_vector<float>();
  }
  return std::make_unique<RmsNormKernel>(init, x, std::move(weight),
                                         init.params().get_float("epsilon", 1e-5));
}

}  // namespace coreml::kernels::fused
