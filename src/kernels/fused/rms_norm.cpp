// coreml.rms_norm(x, weight?, epsilon): what ANEMLL's layer_norm-over-concat([x, -x]) pattern
// computes (runtime/fusion), without building the doubled row. The statistics are accumulated
// as layer_norm does (fp64, the row counted twice), the normalized value is rounded to the
// layer_norm's declared dtype, then multiplied by the weight and rounded to the output dtype.
#include <array>
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
    // Per thread: a group of rows in fp32 and one row's fp16 rounding.
    per_thread_ = kGroup * h_ + (h_ + 1) / 2 + 16;
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
        rows, std::max<int64_t>(kGroup, 4096 / std::max<int64_t>(1, h_)),
        [&](int64_t begin, int64_t end) {
          float* rows_in = scratch + runtime::ThreadPool::thread_index() * per_thread_;
          auto* half = reinterpret_cast<uint16_t*>(rows_in + kGroup * h_);
          std::array<int64_t, kGroup> index{}, offset{};
          int count = 0;
          auto finish_group = [&] {
            std::array<const float*, kGroup> row{};
            for (int i = 0; i < kGroup; ++i) {
              if (i < count) load_row(x, x_dtype_, offset[i], xs, h_, rows_in + i * h_);
              row[i] = rows_in + (i < count ? i : 0) * h_;  // spare lanes repeat the first row
            }
            // layer_norm over [x, -x]: mean 0; the squares of both halves, in fp64, in its
            // order. Several rows side by side: each keeps its own order, the chains overlap.
            std::array<double, kGroup> sq{};
            for (int pass = 0; pass < 2; ++pass) {
              for (int64_t j = 0; j < h_; ++j) {
                for (int i = 0; i < kGroup; ++i) {
                  sq[i] += static_cast<double>(row[i][j]) * row[i][j];
                }
              }
            }
            for (int i = 0; i < count; ++i) {
              float* r = rows_in + i * h_;
              const double var = h_ > 0 ? sq[i] / static_cast<double>(2 * h_) : 0.0;
              const double inv_std = 1.0 / std::sqrt(var + epsilon_);
              for (int64_t j = 0; j < h_; ++j)
                r[j] = static_cast<float>(r[j] * inv_std) * 1.0f + 0.0f;
              if (normalized_fp16_) round_row_to_fp16(r, half, h_);
              if (!weight_.empty()) {
                const float* w = weight_.data();
                for (int64_t j = 0; j < h_; ++j) r[j] *= w[j];
              }
              store_row(r, out, out_dtype_, index[i] * h_, h_);
            }
            count = 0;
          };
          for_each_row<1>(shape_, {&x_layout_}, begin, end,
                          [&](int64_t r, const std::array<int64_t, 1>& off) {
                            index[count] = r;
                            offset[count] = off[0];
                            if (++count == kGroup) finish_group();
                          });
          if (count) finish_group();
        });
  }

 private:
  static constexpr int kGroup = 8;  // rows whose sums run side by side
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
