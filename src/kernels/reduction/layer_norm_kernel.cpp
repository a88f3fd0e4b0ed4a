// Prepared layer_norm over the last axis of a float tensor (any strides), with constant gamma and
// beta: each row read to fp32 (fp16 converted in the load), normalized by the simple kernel's
// own arithmetic (layer_norm_row.h) and written straight to the output in its dtype. Other
// axes, non-constant parameters and other dtypes keep the simple kernel.
#include <algorithm>
#include <optional>

#include "kernels/common/layout.h"
#include "kernels/fused/row_io.h"
#include "kernels/reduction/layer_norm_row.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

class LayerNormKernel final : public runtime::OpKernel {
 public:
  LayerNormKernel(int x, std::vector<int64_t> axes, double epsilon, std::vector<float> gamma,
                  std::vector<float> beta)
      : x_(x),
        axes_(std::move(axes)),
        epsilon_(epsilon),
        gamma_(std::move(gamma)),
        beta_(std::move(beta)) {}

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    out_dtype_ = ctx.declared_dtype(0);
    const int64_t rank = x.rank();
    const bool float_types = (x.dtype() == DType::kFloat32 || x.dtype() == DType::kFloat16) &&
                             (out_dtype_ == DType::kFloat32 || out_dtype_ == DType::kFloat16);
    const bool last_axis =
        axes_.size() == 1 && rank >= 1 && (axes_[0] == -1 || axes_[0] == rank - 1);
    if (!float_types || !last_axis || rank > kMaxLayoutRank) {
      ctx.decline();
      return;
    }
    n_ = x.shape().back();
    const auto fits = [this](const std::vector<float>& p) {
      return p.empty() || static_cast<int64_t>(p.size()) == n_;
    };
    if (!fits(gamma_) || !fits(beta_)) {
      ctx.decline();  // the simple kernel names the mismatch
      return;
    }
    shape_ = Layout::dense(x.shape());
    x_layout_ = Layout::of(x);
    x_step_ = x_layout_.strides[static_cast<size_t>(rank - 1)];
    x_dtype_ = x.dtype();
    per_thread_ = n_ + 16;
    ctx.request_scratch(static_cast<size_t>(ctx.threads()) * static_cast<size_t>(per_thread_) *
                        sizeof(float));
    ctx.set_output(0, x.shape(), out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    if (n_ == 0) return;
    const void* x = ctx.in(x_).data();
    void* out = ctx.out(0).data();
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    const float* gamma = gamma_.empty() ? nullptr : gamma_.data();
    const float* beta = beta_.empty() ? nullptr : beta_.data();
    const int64_t rows = row_count(shape_);
    ctx.pool().parallel_for(rows, std::max<int64_t>(1, 4096 / n_), [&](int64_t begin, int64_t end) {
      float* row = scratch + runtime::ThreadPool::thread_index() * per_thread_;
      for_each_row<1>(shape_, {&x_layout_}, begin, end,
                      [&](int64_t r, const std::array<int64_t, 1>& off) {
                        normalize(x, off[0], gamma, beta, out, r, row);
                      });
    });
  }

  // Safe: a row is read whole (its statistics) before any of it is written, and each output
  // element after its input element.
  int in_place_input() const override { return x_; }

 private:
  // Row r of the output from the x row at element `first`; `row` is n floats of scratch.
  void normalize(const void* x, int64_t first, const float* gamma, const float* beta, void* out,
                 int64_t r, float* row) const {
    const float* in = row;
    if (x_dtype_ == DType::kFloat32 && x_step_ == 1) {
      in = static_cast<const float*>(x) + first;
    } else {
      fused::load_row(x, x_dtype_, first, x_step_, n_, row);
    }
    if (out_dtype_ == DType::kFloat32) {
      layer_norm_row(in, n_, epsilon_, gamma, beta, static_cast<float*>(out) + r * n_);
    } else {
      layer_norm_row(in, n_, epsilon_, gamma, beta, row);
      fused::store_row(row, out, out_dtype_, r * n_, n_);
    }
  }

  int x_;
  std::vector<int64_t> axes_;
  double epsilon_;
  std::vector<float> gamma_, beta_;
  int64_t n_ = 0, x_step_ = 1, per_thread_ = 0;
  Layout shape_, x_layout_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
};

// gamma or beta, when bound: a constant's values in fp32; nullopt when bound to a value only
// known at run time (the simple kernel then runs).
std::optional<std::vector<float>> constant_param(const runtime::KernelInit& init,
                                                 const char* name) {
  const int b = init.binding(name);
  if (b < 0) return std::vector<float>{};
  const runtime::RtValue* value = init.constant(b);
  if (!value) return std::nullopt;
  return value->dense().to(DType::kFloat32).to_vector<float>();
}

std::unique_ptr<runtime::OpKernel> make_layer_norm(const runtime::KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  const auto axes = init.params().get_ints_if("axes");
  if (!axes) return nullptr;
  auto gamma = constant_param(init, "gamma");
  auto beta = constant_param(init, "beta");
  if (!gamma || !beta) return nullptr;
  return std::make_unique<LayerNormKernel>(x, *axes, init.params().get_float("epsilon", 1e-5),
                                           std::move(*gamma), std::move(*beta));
}

}  // namespace

void register_prepared_layer_norm_kernel(runtime::KernelRegistry& r) {
  r.add_prepared("layer_norm", make_layer_norm);
}

}  // namespace coreml::kernels
