// Prepared reductions over one axis of a float tensor (any layout): reduce_{sum,mean,max,min,
// prod,l1_norm,l2_norm,log_sum,log_sum_exp,sum_square} and reduce_{argmax,argmin}, e.g. an LLM
// head's in-model argmax. Each row is gathered into fp32 and reduced by the same row functions
// as the simple kernels (sum and mean over partial sums). Several consecutive, evenly strided
// axes are one row (squeeze-excite's mean over H and W); other axis sets, or integer data,
// decline to the simple kernels.
#include <algorithm>
#include <cstring>

#include "kernels/common/convert_simd.h"
#include "kernels/common/layout.h"
#include "kernels/fused/fused_common.h"
#include "kernels/reduction/reduce_rows.h"
#include "kernels/shape/shape_rules.h"
#include "runtime/kernel_registry.h"
#include "tensor/convert.h"

namespace coreml::kernels {
namespace {

class ReduceAxisKernel final : public runtime::OpKernel {
 public:
  // `kind` < 0: arg reductions (-1 argmax, -2 argmin).
  ReduceAxisKernel(int x, int kind, std::vector<int64_t> axes, bool keep_dims)
      : x_(x), kind_(kind), axes_(std::move(axes)), keep_dims_(keep_dims) {}

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    out_dtype_ = ctx.declared_dtype(0);
    const bool arg = kind_ < 0;
    const bool out_ok = arg ? (out_dtype_ == DType::kInt32 || out_dtype_ == DType::kInt64)
                            : (out_dtype_ == DType::kFloat32 || out_dtype_ == DType::kFloat16);
    if ((x.dtype() != DType::kFloat32 && x.dtype() != DType::kFloat16) || !out_ok ||
        x.rank() == 0 || x.rank() > kMaxLayoutRank || axes_.empty() || (arg && axes_.size() != 1)) {
      ctx.decline();
      return;
    }
    // Several axes (squeeze-excite's mean over H and W) are one row when they are consecutive
    // and evenly strided; anything else goes to the simple kernel.
    std::vector<size_t> axes;
    for (const int64_t a : axes_)
      axes.push_back(static_cast<size_t>(axis_in_rank(ctx, a, x.rank())));
    std::sort(axes.begin(), axes.end());
    n_ = 1;
    for (size_t i = 0; i < axes.size(); ++i) {
      const size_t d = axes[i];
      if (i > 0 && (d != axes[i - 1] + 1 || x.strides()[d - 1] != x.strides()[d] * x.shape()[d])) {
        ctx.decline();
        return;
      }
      n_ *= x.shape()[d];  // at most numel: no overflow
    }
    if (n_ == 0) {
      ctx.decline();  // empty rows: the simple kernel's rules (and errors) apply
      return;
    }
    // The rows: every dimension but the reduced ones, in order.
    std::vector<int64_t> row_shape, row_strides, out_shape;
    for (size_t d = 0; d < x.shape().size(); ++d) {
      if (std::find(axes.begin(), axes.end(), d) != axes.end()) {
        if (keep_dims_) out_shape.push_back(1);
        continue;
      }
      row_shape.push_back(x.shape()[d]);
      row_strides.push_back(x.strides()[d]);
      out_shape.push_back(x.shape()[d]);
    }
    row_shape.push_back(1);  // for_each_row walks every dimension but the last
    row_strides.push_back(0);
    rows_ = Layout::of(row_shape, row_strides);
    step_ = x.strides()[axes.back()];
    x_dtype_ = x.dtype();
    item_ = static_cast<int64_t>(dtype_size(out_dtype_));
    ctx.request_scratch(static_cast<size_t>(ctx.threads()) * static_cast<size_t>(n_) *
                        sizeof(float));
    ctx.set_output(0, std::move(out_shape), out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    const void* x = ctx.in(x_).data();
    void* out = ctx.out(0).data();
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    const int64_t count = rows_.numel();
    // Chunks of at least 4096 elements: a global average pool's 576 rows of 49 in 7 chunks.
    ctx.pool().parallel_for(
        count, std::max<int64_t>(1, 4096 / n_), [&](int64_t begin, int64_t end) {
          float* scratch_row = scratch + runtime::ThreadPool::thread_index() * n_;
          for_each_row<1>(
              rows_, {&rows_}, begin, end, [&](int64_t r, const std::array<int64_t, 1>& off) {
                const float* row = load_row(x, off[0], scratch_row);
                if (kind_ < 0) {
                  const int64_t index =
                      kind_ == -1 ? arg_extreme<true>(row, n_) : arg_extreme<false>(row, n_);
                  if (out_dtype_ == DType::kInt32) {
                    static_cast<int32_t*>(out)[r] = static_cast<int32_t>(index);
                  } else {
                    static_cast<int64_t*>(out)[r] = index;
                  }
                } else {
                  // fp64 straight to the output type (one rounding), as the simple kernel stores
                  // it.
                  const double value = kind_ == static_cast<int>(Reduce::kSum) ||
                                               kind_ == static_cast<int>(Reduce::kMean)
                                           ? sum_row(row)
                                           : reduce_row(static_cast<Reduce>(kind_), row, n_);
                  if (out_dtype_ == DType::kFloat32) {
                    static_cast<float*>(out)[r] = static_cast<float>(value);
                  } else {
                    tensor_detail::convert_elements(&value, DType::kFloat64,
                                                    static_cast<std::byte*>(out) + r * item_,
                                                    out_dtype_, 1);
                  }
                }
              });
        });
  }

 private:
  // The row starting at element `first` as fp32: in place when it is, else gathered into
  // `scratch`.
  const float* load_row(const void* x, int64_t first, float* scratch) const {
    if (step_ == 1 && x_dtype_ == DType::kFloat32) return static_cast<const float*>(x) + first;
    if (step_ == 1) {
      f16_to_f32(static_cast<const uint16_t*>(x) + first, scratch, n_);
    } else {
      for (int64_t j = 0; j < n_; ++j) {
        scratch[j] = fused::load_float(x, x_dtype_, first + j * step_);
      }
    }
    return scratch;
  }

  // The sum (the mean for reduce_mean) in fp64 like reduce_row, over eight partial sums so the
  // additions do not wait on each other (a long row, e.g. a 112 x 112 plane, is 8x faster).
  double sum_row(const float* row) const {
    double partial[8] = {};
    int64_t j = 0;
    for (; j + 8 <= n_; j += 8) {
      for (int i = 0; i < 8; ++i) partial[i] += static_cast<double>(row[j + i]);
    }
    for (; j < n_; ++j) partial[0] += static_cast<double>(row[j]);
    const double s = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                     ((partial[4] + partial[5]) + (partial[6] + partial[7]));
    return kind_ == static_cast<int>(Reduce::kMean) ? s / static_cast<double>(n_) : s;
  }

  int x_;
  int kind_;
  std::vector<int64_t> axes_;
  bool keep_dims_;
  int64_t n_ = 0, step_ = 0, item_ = 4;
  Layout rows_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
};

template <int kKind>
std::unique_ptr<runtime::OpKernel> make_reduce(const runtime::KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  const auto& p = init.params();
  std::vector<int64_t> axes;
  if (kKind < 0) {
    axes = {p.get_int("axis", -1)};
  } else {
    const auto given = p.get_ints_if("axes");
    if (!given) return nullptr;  // every axis: the simple kernel
    axes = *given;
  }
  return std::make_unique<ReduceAxisKernel>(x, kKind, std::move(axes),
                                            p.get_bool("keep_dims", false));
}

}  // namespace

void register_prepared_reduce_kernels(runtime::KernelRegistry& r) {
  r.add_prepared("reduce_sum", make_reduce<static_cast<int>(Reduce::kSum)>);
  r.add_prepared("reduce_mean", make_reduce<static_cast<int>(Reduce::kMean)>);
  r.add_prepared("reduce_max", make_reduce<static_cast<int>(Reduce::kMax)>);
  r.add_prepared("reduce_min", make_reduce<static_cast<int>(Reduce::kMin)>);
  r.add_prepared("reduce_prod", make_reduce<static_cast<int>(Reduce::kProd)>);
  r.add_prepared("reduce_l1_norm", make_reduce<static_cast<int>(Reduce::kL1)>);
  r.add_prepared("reduce_l2_norm", make_reduce<static_cast<int>(Reduce::kL2)>);
  r.add_prepared("reduce_log_sum", make_reduce<static_cast<int>(Reduce::kLogSum)>);
  r.add_prepared("reduce_log_sum_exp", make_reduce<static_cast<int>(Reduce::kLogSumExp)>);
  r.add_prepared("reduce_sum_square", make_reduce<static_cast<int>(Reduce::kSumSquare)>);
  r.add_prepared("reduce_argmax", make_reduce<-1>);
  r.add_prepared("reduce_argmin", make_reduce<-2>);
}

}  // namespace coreml::kernels
