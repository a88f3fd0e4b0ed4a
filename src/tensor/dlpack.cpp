// DLPack 0.6 (DLManagedTensor) import and export, zero-copy.
#include <dlpack/dlpack.h>

#include <memory>

#include "coreml/tensor.h"
#include "tensor/layout.h"

namespace coreml {
namespace {

// kDLBool was added in DLPack 0.8; this header (0.6) lacks it, so use its value directly.
constexpr uint8_t kDLBoolCode = 6;

struct DLTypeMapping {
  DType dtype;
  uint8_t code;
  uint8_t bits;
};

constexpr DLTypeMapping kMappings[] = {
    {DType::kFloat16, kDLFloat, 16}, {DType::kBFloat16, kDLBfloat, 16},
    {DType::kFloat32, kDLFloat, 32}, {DType::kFloat64, kDLFloat, 64},
    {DType::kInt8, kDLInt, 8},       {DType::kUInt8, kDLUInt, 8},
    {DType::kInt16, kDLInt, 16},     {DType::kUInt16, kDLUInt, 16},
    {DType::kInt32, kDLInt, 32},     {DType::kInt64, kDLInt, 64},
    {DType::kBool, kDLBoolCode, 8},
};

std::string device_type_name(int type) {
  switch (type) {
    case kDLCPU: return "kDLCPU";
    case kDLCUDA: return "kDLCUDA";
    case kDLCUDAHost: return "kDLCUDAHost";
    case kDLOpenCL: return "kDLOpenCL";
    case kDLVulkan: return "kDLVulkan";
    case kDLMetal: return "kDLMetal";
    case kDLVPI: return "kDLVPI";
    case kDLROCM: return "kDLROCM";
    case kDLROCMHost: return "kDLROCMHost";
    case kDLExtDev: return "kDLExtDev";
    case kDLCUDAManaged: return "kDLCUDAManaged";
    default: return detail::cat("device type ", type);
  }
}

// What an exported DLManagedTensor points into: a Tensor handle (keeping the storage
// alive) and the shape/stride arrays DLTensor refers to.
struct ExportContext {
  Tensor tensor;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  DLManagedTensor managed{};
};

void delete_export(DLManagedTensor* managed) {
  delete static_cast<ExportContext*>(managed->manager_ctx);
}

}  // namespace

Tensor Tensor::from_dlpack(DLManagedTensor* managed) {
  const char* what = "Tensor::from_dlpack";
  if (managed == nullptr) fail(ErrorCode::kInvalidArgument, what, ": null DLManagedTensor");
  const DLTensor& dl = managed->dl_tensor;
  if (dl.device.device_type != kDLCPU) {
    fail(ErrorCode::kUnsupported, what, ": only kDLCPU tensors can be imported, got ",
         device_type_name(dl.device.device_type), " (id ", dl.device.device_id, ")");
  }
  if (dl.dtype.lanes != 1) {
    fail(ErrorCode::kUnsupported, what, ": vector dtypes (lanes = ", dl.dtype.lanes,
         ") are not supported");
  }
  const DLTypeMapping* mapping = nullptr;
  for (const DLTypeMapping& candidate : kMappings) {
    if (candidate.code == dl.dtype.code && candidate.bits == dl.dtype.bits) mapping = &candidate;
  }
  if (mapping == nullptr) {
    fail(ErrorCode::kUnsupported, what, ": unsupported DLDataType (code ", int{dl.dtype.code},
         ", bits ", int{dl.dtype.bits}, ")");
  }
  if (dl.ndim < 0 || static_cast<size_t>(dl.ndim) > tensor_detail::kMaxRank) {
    fail(ErrorCode::kInvalidArgument, what, ": ndim ", dl.ndim, " is out of range");
  }
  if (dl.ndim > 0 && dl.shape == nullptr) {
    fail(ErrorCode::kInvalidArgument, what, ": null shape for ndim ", dl.ndim);
  }
  const size_t rank = static_cast<size_t>(dl.ndim);
  std::vector<int64_t> shape(dl.shape, dl.shape + rank);
  std::vector<int64_t> strides =
      dl.strides ? std::vector<int64_t>(dl.strides, dl.strides + rank) : std::vector<int64_t>();
  const size_t itemsize = dtype_size(mapping->dtype);
  if (dl.byte_offset % itemsize != 0) {
    fail(ErrorCode::kInvalidArgument, what, ": byte_offset ", dl.byte_offset,
         " is not a multiple of the element size ", itemsize);
  }
  // Validate the layout before taking ownership, so a failure leaves `managed` untouched.
  Tensor borrowed = from_blob(static_cast<std::byte*>(dl.data) + dl.byte_offset, shape,
                              mapping->dtype, nullptr, strides);
  std::shared_ptr<void> owner(managed, [](void* pointer) {
    auto* m = static_cast<DLManagedTensor*>(pointer);
    if (m->deleter != nullptr) m->deleter(m);
  });
  return from_blob(borrowed.data(), shape, mapping->dtype, std::move(owner), borrowed.strides());
}

DLManagedTensor* Tensor::to_dlpack() const {
  if (!device_.is_cpu()) {
    fail(ErrorCode::kUnsupported, "Tensor::to_dlpack: only cpu tensors can be exported (tensor is ",
         device_.to_string(), ")");
  }
  const DLTypeMapping* mapping = nullptr;
  for (const DLTypeMapping& candidate : kMappings) {
    if (candidate.dtype == dtype_) mapping = &candidate;
  }
  if (mapping == nullptr) {
    fail(ErrorCode::kInternal, "Tensor::to_dlpack: no DLPack type for ", dtype_name(dtype_));
  }
  auto context = std::make_unique<ExportContext>();
  context->tensor = *this;
  context->shape = shape_;
  context->strides = strides_;
  DLTensor& dl = context->managed.dl_tensor;
  dl.data = storage_->data();
  dl.device = DLDevice{kDLCPU, 0};
  dl.ndim = static_cast<int>(shape_.size());
  dl.dtype = DLDataType{mapping->code, mapping->bits, 1};
  dl.shape = context->shape.empty() ? nullptr : context->shape.data();
  dl.strides = context->strides.empty() ? nullptr : context->strides.data();
  dl.byte_offset = static_cast<uint64_t>(offset_) * itemsize();
  context->managed.manager_ctx = context.get();
  context->managed.deleter = &delete_export;
  return &context.release()->managed;
}

}  // namespace coreml
