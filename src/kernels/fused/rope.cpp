// coreml.rope(x, cos, sin): x * cos + rotate_half(x) * sin along the last axis, where
// rotate_half(x) = concat([-x2, x1]) of x's halves (the rotary embedding the converters emit,
// runtime/fusion). Both products round to the dtype the unfused muls declared before the sum,
// so fusing changes no result.
#include "kernels/common/layout.h"
#include "kernels/elementwise/broadcast.h"
#include "kernels/fused/fused_common.h"
#include "kernels/fused/row_io.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels::fused {
namespace {

class RopeKernel final : public runtime::OpKernel {
 public:
  RopeKernel(const runtime::KernelInit& init, int x, int cos, int sin)
      : x_(x), cos_(cos), sin_(sin), product_fp16_(names_fp16(init.op(), "product_dtype")) {}

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    const Tensor& c = ctx.in(cos_);
    const Tensor& s = ctx.in(sin_);
    out_dtype_ = ctx.declared_dtype(0);
    for (const Tensor* t : {&x, &c, &s}) {
      if (t->dtype() != DType::kFloat16 && t->dtype() != DType::kFloat32) {
        ctx.fail("takes fp16 or fp32 tensors");
      }
    }
    if (x.rank() < 1 || x.rank() > kMaxLayoutRank || x.shape().back() % 2 != 0) {
      ctx.fail("x needs an even last axis");
    }
    const auto shape = broadcast_shape(x.shape(), c.shape());
    const auto shape2 = shape ? broadcast_shape(*shape, s.shape()) : std::nullopt;
    if (!shape2 || *shape2 != x.shape()) ctx.fail("cos and sin must broadcast to x's shape");
    shape_ = Layout::dense(x.shape());
    x_layout_ = Layout::of(x);
    cos_layout_ = broadcast_to(c, x.shape());
    sin_layout_ = broadcast_to(s, x.shape());
    dtypes_ = {x.dtype(), c.dtype(), s.dtype()};
    d_ = x.shape().back();
    // Per thread: x, cos, sin, and the two products' rounding.
    per_thread_ = 4 * d_ + 16;
    ctx.request_scratch(static_cast<size_t>(ctx.threads()) * static_cast<size_t>(per_thread_) *
                        sizeof(float));
    ctx.set_output(0, x.shape(), out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    const void* x = ctx.in(x_).data();
    const void* c = ctx.in(cos_).data();
    const void* s = ctx.in(sin_).data();
    void* out = ctx.out(0).data();
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    const int last = shape_.rank - 1;
    const int64_t d = d_, half = d / 2;
    const int64_t xs = x_layout_.strides[static_cast<size_t>(last)];
    const int64_t cs = cos_layout_.strides[static_cast<size_t>(last)];
    const int64_t ss = sin_layout_.strides[static_cast<size_t>(last)];
    const int64_t rows = row_count(shape_);
    ctx.pool().parallel_for(
        rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, d)),
        [&](int64_t begin, int64_t end) {
          float* xr = scratch + runtime::ThreadPool::thread_index() * per_thread_;
          float* p = xr + d;
          float* q = p + d;
          auto* tmp = reinterpret_cast<uint16_t*>(q + d);
          for_each_row<3>(shape_, {&x_layout_, &cos_layout_, &sin_layout_}, begin, end,
                          [&](int64_t r, const std::array<int64_t, 3>& off) {
                            load_row(x, dtypes_[0], off[0], xs, d, xr);
                            load_row(c, dtypes_[1], off[1], cs, d, p);
                            load_row(s, dtypes_[2], off[2], ss, d, q);
                            for (int64_t j = 0; j < d; ++j) p[j] *= xr[j];
                            for (int64_t j = 0; j < half; ++j) q[j] *= -xr[j + half];
                            for (int64_t j = half; j < d; ++j) q[j] *= xr[j - half];
                            if (product_fp16_) {
                              round_row_to_fp16(p, tmp, d);
                              round_row_to_fp16(q, tmp, d);
                            }
                            for (int64_t j = 0; j < d; ++j) p[j] += q[j];
                            store_row(p, out, out_dtype_, r * d, d);
                          });
        });
  }

 private:
  int x_, cos_, sin_;
  bool product_fp16_;
  Layout shape_, x_layout_, cos_layout_, sin_layout_;
  std::array<DType, 3> dtypes_{};
  DType out_dtype_ = DType::kFloat32;
  int64_t d_ = 0, per_thread_ = 0;
};

}  // namespace

std::unique_ptr<runtime::OpKernel> make_rope(const runtime::KernelInit& init) {
  return std::make_unique<RopeKernel>(init, init.binding("x"), init.binding("cos"),
                                      init.binding("sin"));
}

}  // namespace coreml::kernels::fused
