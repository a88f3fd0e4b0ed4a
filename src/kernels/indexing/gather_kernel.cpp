// Prepared gather along axis 0 with batch_dims 0 (embedding tables and rotary tables): each
// index copies one row of x, or decodes it when x is a compressed constant. Indices are read
// at run time and checked as the simple kernel does (negative ones wrap).
#include <cstring>

#include "kernels/common/convert_simd.h"
#include "runtime/kernel_registry.h"
#include "tensor/convert.h"

namespace coreml::kernels {
namespace {

using runtime::KernelInit;
using runtime::ReshapeContext;
using runtime::RunContext;

class GatherRowsKernel final : public runtime::OpKernel {
 public:
  GatherRowsKernel(const KernelInit& init, int x, int indices)
      : x_(x), indices_(indices), op_(init.op()) {}

  void reshape(ReshapeContext& ctx) override {
    const runtime::RtValue& xv = ctx.value(x_);
    const Tensor& idx = ctx.in(indices_);
    const auto& x_shape = xv.shape();
    if (x_shape.empty() || !idx.is_contiguous() ||
        (idx.dtype() != DType::kInt32 && idx.dtype() != DType::kInt64) ||
        (!xv.compressed && !xv.tensor.is_contiguous())) {
      ctx.decline();
      return;
    }
    out_dtype_ = ctx.declared_dtype(0);
    if (!xv.compressed && out_dtype_ != xv.tensor.dtype())
      ctx.fail("declared output type differs from x's");
    if (xv.compressed && out_dtype_ != DType::kFloat32 && out_dtype_ != DType::kFloat16) {
      ctx.decline();
      return;
    }
    rows_ = x_shape[0];
    row_elements_ = 1;
    for (size_t d = 1; d < x_shape.size(); ++d) row_elements_ *= x_shape[d];
    std::vector<int64_t> out_shape = idx.shape();
    out_shape.insert(out_shape.end(), x_shape.begin() + 1, x_shape.end());
    count_ = idx.numel();
    ctx.request_scratch(xv.compressed ? static_cast<size_t>(row_elements_) * sizeof(float) : 0);
    ctx.set_output(0, std::move(out_shape), out_dtype_);
  }

  void run(RunContext& ctx) override {
    const runtime::RtValue& xv = ctx.value(x_);
    const Tensor& idx = ctx.in(indices_);
    Tensor& out = ctx.out(0);
    auto* dst = static_cast<std::byte*>(out.data());
    const size_t item = out.itemsize();
    const size_t row_bytes = static_cast<size_t>(row_elements_) * item;
    for (int64_t i = 0; i < count_; ++i) {
      const int64_t given = idx.dtype() == DType::kInt32
                                ? static_cast<const int32_t*>(idx.data())[i]
                                : static_cast<const int64_t*>(idx.data())[i];
      const int64_t r = given < 0 ? given + rows_ : given;
      if (r < 0 || r >= rows_) {
        coreml::fail(ErrorCode::kInvalidArgument, "op '", op_.name(), "' (gather): index ", given,
                     " is out of range for a dimension of size ", rows_);
      }
      std::byte* o = dst + static_cast<size_t>(i) * row_bytes;
      if (xv.compressed) {
        auto* scratch = reinterpret_cast<float*>(ctx.scratch());
        xv.compressed->decode_rows(r, r + 1, scratch);
        if (out_dtype_ == DType::kFloat32) {
          std::memcpy(o, scratch, row_bytes);
        } else {
          f32_to_f16(scratch, reinterpret_cast<uint16_t*>(o), row_elements_);
        }
      } else {
        std::memcpy(
            o, static_cast<const std::byte*>(xv.tensor.data()) + static_cast<size_t>(r) * row_bytes,
            row_bytes);
      }
    }
  }

 private:
  int x_, indices_;
  const mil::Operation& op_;
  DType out_dtype_ = DType::kFloat32;
  int64_t rows_ = 0, row_elements_ = 0, count_ = 0;
};

std::unique_ptr<runtime::OpKernel> make_gather(const KernelInit& init) {
  const int x = init.binding("x"), indices = init.binding("indices");
  if (x < 0 || indices < 0) return nullptr;
  if (init.params().get_int("axis", 0) != 0 || init.params().get_int("batch_dims", 0) != 0) {
    return nullptr;
  }
  return std::make_unique<GatherRowsKernel>(init, x, indices);
}

}  // namespace

void register_gather_kernel(runtime::KernelRegistry& r) { r.add_prepared("gather", make_gather); }

}  // namespace coreml::kernels
