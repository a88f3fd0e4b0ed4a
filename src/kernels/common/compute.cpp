#include "kernels/common/compute.h"

#include "kernels/common/convert_simd.h"
#include "kernels/linalg/dot_block.h"
#include "tensor/convert.h"

namespace coreml::kernels {
namespace {
template <typename T>
std::vector<T> load_as(const Tensor& t) {
  const Tensor c = t.contiguous();
  std::vector<T> out(static_cast<size_t>(c.numel()));
  if constexpr (std::is_same_v<T, float>) {
    if (c.dtype() == DType::kFloat16 && !out.empty()) {  // the hot case: SIMD widening
      f16_to_f32(static_cast<const uint16_t*>(c.data()), out.data(),
                 static_cast<int64_t>(out.size()));
      return out;
    }
  }
  if (!out.empty()) {
    tensor_detail::convert_elements(c.data(), c.dtype(), out.data(), dtype_of<T>(), out.size());
  }
  return out;
}

template <typename T>
void store_as(const T* values, Tensor& dst) {
  if (!dst.is_contiguous()) fail(ErrorCode::kInternal, "store into a non-contiguous tensor");
  if (dst.numel() > 0) {
    tensor_detail::convert_elements(values, dtype_of<T>(), dst.data(), dst.dtype(),
                                    static_cast<size_t>(dst.numel()));
  }
}
}  // namespace

std::vector<float> load_f32(const Tensor& t) { return load_as<float>(t); }
std::vector<double> load_f64(const Tensor& t) { return load_as<double>(t); }
std::vector<int64_t> load_i64(const Tensor& t) { return load_as<int64_t>(t); }
void store(const float* values, Tensor& dst) { store_as(values, dst); }
void store(const double* values, Tensor& dst) { store_as(values, dst); }
void store(const int64_t* values, Tensor& dst) { store_as(values, dst); }

int64_t normalize_axis(const runtime::OpContext& ctx, int64_t axis, int64_t rank) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max<int64_t>(rank, 1)) {
    ctx.fail("axis ", axis, " is out of range for rank ", rank);
  }
  return a;
}

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace coreml::kernels
