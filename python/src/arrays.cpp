#include "arrays.h"

#include <memory>
#include <optional>
#include <vector>

#include "coreml/error.h"

namespace nb = nanobind;

namespace coreml::python {
namespace {

std::optional<DType> dtype_from_dlpack(nb::dlpack::dtype d) {
  using Code = nb::dlpack::dtype_code;
  if (d.lanes != 1) return std::nullopt;
  const auto code = static_cast<Code>(d.code);
  switch (code) {
    case Code::Float:
      if (d.bits == 16) return DType::kFloat16;
      if (d.bits == 32) return DType::kFloat32;
      if (d.bits == 64) return DType::kFloat64;
      break;
    case Code::Bfloat:
      if (d.bits == 16) return DType::kBFloat16;
      break;
    case Code::Int:
      if (d.bits == 8) return DType::kInt8;
      if (d.bits == 16) return DType::kInt16;
      if (d.bits == 32) return DType::kInt32;
      if (d.bits == 64) return DType::kInt64;
      break;
    case Code::UInt:
      if (d.bits == 8) return DType::kUInt8;
      if (d.bits == 16) return DType::kUInt16;
      break;
    case Code::Bool:
      if (d.bits == 8) return DType::kBool;
      break;
    default: break;
  }
  return std::nullopt;
}

nb::dlpack::dtype dlpack_from_dtype(DType dtype) {
  using Code = nb::dlpack::dtype_code;
  const auto bits = static_cast<uint8_t>(dtype_size(dtype) * 8);
  switch (dtype) {
    case DType::kFloat16:
    case DType::kFloat32:
    case DType::kFloat64: return {static_cast<uint8_t>(Code::Float), bits, 1};
    case DType::kBFloat16: return {static_cast<uint8_t>(Code::Bfloat), bits, 1};
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64: return {static_cast<uint8_t>(Code::Int), bits, 1};
    case DType::kUInt8:
    case DType::kUInt16: return {static_cast<uint8_t>(Code::UInt), bits, 1};
    case DType::kBool: return {static_cast<uint8_t>(Code::Bool), bits, 1};
  }
  fail(ErrorCode::kInternal, "array_from_tensor: unknown dtype");
}

}  // namespace

Tensor tensor_from_array(const InputArray& array, const std::string& what) {
  const auto dtype = dtype_from_dlpack(array.dtype());
  if (!dtype) {
    fail(ErrorCode::kInvalidArgument, what, ": arrays of this element type (DLPack code ",
         int(array.dtype().code), ", ", int(array.dtype().bits),
         " bits) are not accepted; use float16/32/64, int8/16/32/64, uint8/16 or bool");
  }
  std::vector<int64_t> shape(array.ndim()), strides(array.ndim());
  for (size_t i = 0; i < array.ndim(); ++i) {
    shape[i] = static_cast<int64_t>(array.shape(i));
    strides[i] = array.stride(i);  // in elements (DLPack's unit)
    if (strides[i] < 0 && shape[i] > 1) {
      fail(ErrorCode::kInvalidArgument, what,
           ": negative strides are not accepted (pass np.ascontiguousarray(...))");
    }
    if (shape[i] <= 1) strides[i] = 0;
  }
  // The array (and so its owner) stays referenced as long as any view of the tensor lives;
  // the reference is dropped with the GIL held, whichever thread releases the last view.
  std::shared_ptr<void> keep_alive(new InputArray(array), [](void* held) {
    nb::gil_scoped_acquire gil;
    delete static_cast<InputArray*>(held);
  });
  return Tensor::from_blob(const_cast<void*>(array.data()), shape, *dtype, std::move(keep_alive),
                           strides);
}

nb::object array_from_tensor(const Tensor& tensor) {
  const Tensor source = tensor.dtype() == DType::kBFloat16 ? tensor.to(DType::kFloat32) : tensor;
  auto* held = new Tensor(source);
  nb::capsule owner(held, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  std::vector<size_t> shape(held->shape().begin(), held->shape().end());
  const std::vector<int64_t>& strides = held->strides();
  nb::ndarray<nb::numpy> array(held->data(), shape.size(), shape.data(), owner, strides.data(),
                               dlpack_from_dtype(held->dtype()), nb::device::cpu::value);
  return array.cast();
}

}  // namespace coreml::python
