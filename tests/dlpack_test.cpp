// DLPack import/export: zero-copy, layout preserved, deleter called exactly once.
#include <dlpack/dlpack.h>
#include <gtest/gtest.h>

#include <string>

#include "coreml/tensor.h"

namespace coreml {
namespace {

// A producer-side DLManagedTensor over a caller-owned buffer that counts deleter calls.
struct Producer {
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  int deleted = 0;
  DLManagedTensor managed{};

  Producer(void* data, DLDataType dtype, std::vector<int64_t> dims, std::vector<int64_t> steps,
           uint64_t byte_offset = 0, DLDeviceType device = kDLCPU)
      : shape(std::move(dims)), strides(std::move(steps)) {
    managed.dl_tensor.data = data;
    managed.dl_tensor.device = DLDevice{device, 0};
    managed.dl_tensor.ndim = static_cast<int>(shape.size());
    managed.dl_tensor.dtype = dtype;
    managed.dl_tensor.shape = shape.data();
    managed.dl_tensor.strides = strides.empty() ? nullptr : strides.data();
    managed.dl_tensor.byte_offset = byte_offset;
    managed.manager_ctx = this;
    managed.deleter = [](DLManagedTensor* self) {
      ++static_cast<Producer*>(self->manager_ctx)->deleted;
    };
  }
};

TEST(DLPack, ImportIsZeroCopyAndDeletesOnce) {
  float buffer[12];
  for (int i = 0; i < 12; ++i) buffer[i] = static_cast<float>(i);
  // A 3x2 view of every second column of a 3x4 matrix, starting at column 1.
  Producer producer(buffer, DLDataType{kDLFloat, 32, 1}, {3, 2}, {4, 2}, sizeof(float));
  {
    Tensor t = Tensor::from_dlpack(&producer.managed);
    EXPECT_EQ(t.dtype(), DType::kFloat32);
    EXPECT_EQ(t.shape(), (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(t.strides(), (std::vector<int64_t>{4, 2}));
    EXPECT_EQ(t.data(), static_cast<void*>(buffer + 1));
    EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 3, 5, 7, 9, 11}));
    Tensor view = t.narrow(0, 1, 1);
    t = Tensor();
    EXPECT_EQ(producer.deleted, 0);  // the view still uses the memory
    EXPECT_EQ(view.to_vector<float>(), (std::vector<float>{5, 7}));
  }
  EXPECT_EQ(producer.deleted, 1);
}

TEST(DLPack, ImportWithoutStridesIsCOrder) {
  int16_t buffer[6] = {1, 2, 3, 4, 5, 6};
  Producer producer(buffer, DLDataType{kDLInt, 16, 1}, {2, 3}, {});
  {
    Tensor t = Tensor::from_dlpack(&producer.managed);
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.strides(), (std::vector<int64_t>{3, 1}));
    EXPECT_EQ(t.to_vector<int16_t>(), (std::vector<int16_t>{1, 2, 3, 4, 5, 6}));
  }
  EXPECT_EQ(producer.deleted, 1);
}

TEST(DLPack, RejectedImportsLeaveOwnershipWithCaller) {
  float buffer[4] = {};
  Producer cuda(buffer, DLDataType{kDLFloat, 32, 1}, {4}, {}, 0, kDLCUDA);
  try {
    Tensor::from_dlpack(&cuda.managed);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kDLCUDA"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  }
  EXPECT_EQ(cuda.deleted, 0);
  Producer metal(buffer, DLDataType{kDLFloat, 32, 1}, {4}, {}, 0, kDLMetal);
  EXPECT_THROW(Tensor::from_dlpack(&metal.managed), Error);
  Producer lanes(buffer, DLDataType{kDLFloat, 32, 4}, {1}, {});
  EXPECT_THROW(Tensor::from_dlpack(&lanes.managed), Error);
  Producer complex(buffer, DLDataType{kDLComplex, 64, 1}, {2}, {});
  EXPECT_THROW(Tensor::from_dlpack(&complex.managed), Error);
  Producer uint32(buffer, DLDataType{kDLUInt, 32, 1}, {4}, {});
  EXPECT_THROW(Tensor::from_dlpack(&uint32.managed), Error);
  Producer negative(buffer, DLDataType{kDLFloat, 32, 1}, {2}, {-1});
  EXPECT_THROW(Tensor::from_dlpack(&negative.managed), Error);
  Producer bad_shape(buffer, DLDataType{kDLFloat, 32, 1}, {-2}, {});
  EXPECT_THROW(Tensor::from_dlpack(&bad_shape.managed), Error);
  Producer misaligned(buffer, DLDataType{kDLFloat, 32, 1}, {2}, {}, 2);
  EXPECT_THROW(Tensor::from_dlpack(&misaligned.managed), Error);
  EXPECT_THROW(Tensor::from_dlpack(nullptr), Error);
  for (const Producer* p :
       {&metal, &lanes, &complex, &uint32, &negative, &bad_shape, &misaligned}) {
    EXPECT_EQ(p->deleted, 0);
  }
}

TEST(DLPack, ExportKeepsStorageAliveAndPreservesLayout) {
  DLManagedTensor* managed = nullptr;
  const void* first_element = nullptr;
  {
    Tensor base = Tensor::arange(0, 12, 1, DType::kInt64).reshape({3, 4});
    Tensor view = base.slice(1, 1, 4, 2).transpose(0, 1);  // shape {2, 3}, strides {2, 4}
    first_element = view.data();
    managed = view.to_dlpack();
  }
  // Every Tensor is gone; the export alone keeps the memory.
  const DLTensor& dl = managed->dl_tensor;
  EXPECT_EQ(dl.device.device_type, kDLCPU);
  EXPECT_EQ(dl.ndim, 2);
  EXPECT_EQ(dl.dtype.code, kDLInt);
  EXPECT_EQ(dl.dtype.bits, 64);
  EXPECT_EQ(dl.dtype.lanes, 1);
  EXPECT_EQ(dl.shape[0], 2);
  EXPECT_EQ(dl.shape[1], 3);
  EXPECT_EQ(dl.strides[0], 2);
  EXPECT_EQ(dl.strides[1], 4);
  EXPECT_EQ(dl.byte_offset, sizeof(int64_t));
  const auto* data =
      reinterpret_cast<const int64_t*>(static_cast<const char*>(dl.data) + dl.byte_offset);
  EXPECT_EQ(static_cast<const void*>(data), first_element);
  // view[i][j] = base[j][1 + 2 i] = 4 j + 1 + 2 i
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(data[i * 2 + j * 4], 4 * j + 1 + 2 * i);
  }
  managed->deleter(managed);
}

TEST(DLPack, RoundTripSharesMemoryAndCallsDeleterOnce) {
  for (DType dtype :
       {DType::kFloat16, DType::kBFloat16, DType::kFloat32, DType::kFloat64, DType::kInt8,
        DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kInt32, DType::kInt64, DType::kBool}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    Tensor original = Tensor::arange(0, 6, 1, dtype).reshape({2, 3});
    std::weak_ptr<Storage> storage = original.storage();
    Tensor back = Tensor::from_dlpack(original.to_dlpack());
    EXPECT_EQ(back.dtype(), dtype);
    EXPECT_EQ(back.shape(), original.shape());
    EXPECT_EQ(back.data(), original.data());
    original = Tensor();
    EXPECT_FALSE(storage.expired());  // held by the DLPack export inside `back`
    EXPECT_EQ(back.to(DType::kFloat64).to_vector<double>(),
              Tensor::arange(0, 6, 1, dtype).to(DType::kFloat64).to_vector<double>());
    back = Tensor();
    EXPECT_TRUE(storage.expired());  // deleter ran and released the storage
  }
}

TEST(DLPack, BoolUsesDLPackBoolCode) {
  DLManagedTensor* managed = Tensor::from_vector<bool>({true, false}).to_dlpack();
  EXPECT_EQ(managed->dl_tensor.dtype.code, 6);  // kDLBool in DLPack >= 0.8
  EXPECT_EQ(managed->dl_tensor.dtype.bits, 8);
  managed->deleter(managed);
}

TEST(DLPack, ScalarAndNonCpuExport) {
  DLManagedTensor* managed = Tensor::full({}, 3.0, DType::kFloat32).to_dlpack();
  EXPECT_EQ(managed->dl_tensor.ndim, 0);
  EXPECT_EQ(*static_cast<const float*>(managed->dl_tensor.data), 3.0f);
  Tensor back = Tensor::from_dlpack(managed);
  EXPECT_EQ(back.item<float>(), 3.0f);
  EXPECT_THROW(Tensor::zeros({2}).with_device(Device::metal(0)).to_dlpack(), Error);
}

}  // namespace
}  // namespace coreml
