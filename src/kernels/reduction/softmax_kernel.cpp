// Prepared softmax along one axis of a float tensor (any layout): rows gathered to fp32 and
// reduced with the softmax kernel's own row function, written straight to the output.
#include "kernels/common/layout.h"
#include "kernels/fused/row_io.h"
#include "kernels/reduction/softmax_row.h"
#include "kernels/shape/shape_rules.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

class SoftmaxKernel final : public runtime::OpKernel {
 public:
  SoftmaxKernel(int x, int64_t axis) : x_(x), axis_(axis) {}

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    out_dtype_ = ctx.declared_dtype(0);
    if ((x.dtype() != DType::kFloat32 && x.dtype() != DType::kFloat16) ||
        (out_dtype_ != DType::kFloat32 && out_dtype_ != DType::kFloat16) || x.rank() == 0 ||
        x.rank() > kMaxLayoutRank) {
      ctx.decline();
      return;
    }
    const auto axis = static_cast<size_t>(axis_in_rank(ctx, axis_, x.rank()));
    n_ = x.shape()[axis];
    std::vector<int64_t> shape, in_strides, out_strides;
    const Layout dense = Layout::dense(x.shape());
    for (size_t d = 0; d < x.shape().size(); ++d) {
      if (d == axis) continue;
      shape.push_back(x.shape()[d]);
      in_strides.push_back(x.strides()[d]);
      out_strides.push_back(dense.strides[d]);
    }
    shape.push_back(1);  // for_each_row walks every dimension but the last
    in_strides.push_back(0);
    out_strides.push_back(0);
    rows_in_ = Layout::of(shape, in_strides);
    rows_out_ = Layout::of(shape, out_strides);
    in_step_ = x.strides()[axis];
    out_step_ = dense.strides[axis];
    x_dtype_ = x.dtype();
    per_thread_ = 2 * n_ + 16;
    ctx.request_scratch(static_cast<size_t>(ctx.threads()) * static_cast<size_t>(per_thread_) *
                        sizeof(float));
    ctx.set_output(0, x.shape(), out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    if (n_ == 0) return;
    const void* x = ctx.in(x_).data();
    void* out = ctx.out(0).data();
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    ctx.pool().parallel_for(
        rows_in_.numel(), std::max<int64_t>(1, 8192 / n_), [&](int64_t begin, int64_t end) {
          float* in = scratch + runtime::ThreadPool::thread_index() * per_thread_;
          float* result = in + n_;
          for_each_row<2>(rows_in_, {&rows_in_, &rows_out_}, begin, end,
                          [&](int64_t, const std::array<int64_t, 2>& off) {
                            fused::load_row(x, x_dtype_, off[0], in_step_, n_, in);
                            softmax_row(in, result, n_);
                            if (out_step_ == 1) {
                              fused::store_row(result, out, out_dtype_, off[1], n_);
                            } else {
                              for (int64_t j = 0; j < n_; ++j)
                                fused::store_float(out, out_dtype_, off[1] + j * out_step_,
                                                   result[j]);
                            }
                          });
        });
  }

  int in_place_input() const override { return x_; }

 private:
  int x_;
  int64_t axis_;
  int64_t n_ = 0, in_step_ = 0, out_step_ = 0, per_thread_ = 0;
  Layout rows_in_, rows_out_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
};

std::unique_ptr<runtime::OpKernel> make_softmax(const runtime::KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  return std::make_unique<SoftmaxKernel>(x, init.params().get_int("axis", -1));
}

}  // namespace

void register_prepared_softmax_kernel(runtime::KernelRegistry& r) {
  r.add_prepared("softmax", make_softmax);
}

}  // namespace coreml::kernels
