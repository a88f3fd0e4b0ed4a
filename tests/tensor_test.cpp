// Tensor: factories, views, copies, typed access, devices, and dtype conversions compared
// with NumPy references (tests/data/npy/conv_*.npy, from tools/fixtures/make_npy_fixtures.py).
#include "coreml/tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>

namespace coreml {
namespace {

const std::string kNpyDir = std::string(COREML_TEST_DATA_DIR) + "/npy/";

Tensor fixture(const std::string& name) { return load_npy(kNpyDir + name); }

template <typename T>
std::vector<T> iota_vector(size_t n) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<T>(i);
  return v;
}

// ---- factories ------------------------------------------------------------------------

TEST(TensorFactories, ZerosOnesFull) {
  Tensor z = Tensor::zeros({2, 3}, DType::kInt32);
  EXPECT_EQ(z.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(z.strides(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.nbytes(), 24u);
  EXPECT_EQ(z.to_vector<int32_t>(), std::vector<int32_t>(6, 0));
  EXPECT_EQ(Tensor::ones({3}, DType::kFloat16).to_vector<Half>(),
            std::vector<Half>(3, Half::from_bits(0x3c00)));
  EXPECT_EQ(Tensor::ones({2}, DType::kBool).to_vector<bool>(), (std::vector<bool>{true, true}));
  EXPECT_EQ(Tensor::full({2}, -3.75, DType::kInt8).to_vector<int8_t>(),
            (std::vector<int8_t>{-3, -3}));
  EXPECT_EQ(Tensor::full({1}, 1000.0, DType::kUInt8).item<uint8_t>(), 255);  // saturates
  EXPECT_EQ(Tensor::full({}, 2.5, DType::kFloat64).item<double>(), 2.5);
  EXPECT_EQ(Tensor::full({}, 2.5).rank(), 0);
  EXPECT_EQ(Tensor::empty({4, 0}).numel(), 0);
}

TEST(TensorFactories, StorageIsAligned) {
  for (int i = 0; i < 4; ++i) {
    Tensor t = Tensor::empty({i * 3 + 1}, DType::kInt8);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
    EXPECT_TRUE(t.storage()->owned());
  }
}

TEST(TensorFactories, ArangeMatchesNumPyCounts) {
  // np.arange(0, 5) -> 5 values; np.arange(1, 2, 0.3) -> [1, 1.3, 1.6, 1.9];
  // np.arange(5, 0, -2) -> [5, 3, 1]; np.arange(3, 1) -> [].
  EXPECT_EQ(Tensor::arange(0, 5, 1, DType::kInt64).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Tensor::arange(1, 2, 0.3, DType::kFloat64).numel(), 4);
  EXPECT_EQ(Tensor::arange(5, 0, -2, DType::kInt32).to_vector<int32_t>(),
            (std::vector<int32_t>{5, 3, 1}));
  EXPECT_EQ(Tensor::arange(3, 1).numel(), 0);
  EXPECT_THROW(Tensor::arange(0, 1, 0), Error);
  EXPECT_THROW(Tensor::arange(0, NAN, 1), Error);
  EXPECT_THROW(Tensor::arange(0, 1e300, 1e-300), Error);
}

TEST(TensorFactories, FromVectorChecksShape) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, std::vector<int64_t>{2, 3});
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_EQ(Tensor::from_vector<int16_t>({7, 8}).shape(), (std::vector<int64_t>{2}));
  EXPECT_EQ(Tensor::from_vector<bool>({true, false, true}).to_vector<bool>(),
            (std::vector<bool>{true, false, true}));
  EXPECT_THROW(Tensor::from_vector<float>({1, 2, 3}, std::vector<int64_t>{2, 2}), Error);
}

TEST(TensorFactories, BadShapesThrow) {
  EXPECT_THROW(Tensor::empty({2, -1}), Error);
  EXPECT_THROW(Tensor::empty({int64_t{1} << 40, int64_t{1} << 40}), Error);  // overflow
  EXPECT_THROW(Tensor::empty({int64_t{1} << 62}, DType::kInt64), Error);     // bytes overflow
  EXPECT_THROW(Tensor::empty(std::vector<int64_t>(65, 1)), Error);
  try {
    Tensor::empty({3, -2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("negative"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

// ---- typed access -----------------------------------------------------------------------

TEST(TensorAccess, TypedAccessChecksDType) {
  Tensor t = Tensor::zeros({2}, DType::kFloat16);
  EXPECT_NO_THROW(t.data<Half>());
  EXPECT_THROW(t.data<uint16_t>(), Error);  // fp16 storage is not uint16
  EXPECT_THROW(t.to_vector<BFloat16>(), Error);
  EXPECT_THROW(t.to_vector<float>(), Error);  // no implicit conversion
  EXPECT_THROW(t.item<Half>(), Error);        // two elements
  EXPECT_EQ(Tensor::zeros({1, 1, 1}, DType::kUInt16).item<uint16_t>(), 0);
}

TEST(TensorAccess, HalfAndBFloat16Tags) {
  EXPECT_EQ(Half(1.0f).bits, 0x3c00);
  EXPECT_EQ(Half(-2.0f).bits, 0xc000);
  EXPECT_EQ(Half::from_bits(0x3555).to_float(), 0.333251953125f);
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(static_cast<float>(BFloat16::from_bits(0x4049)), 3.140625f);
  static_assert(dtype_of<Half>() == DType::kFloat16);
  static_assert(dtype_of<BFloat16>() == DType::kBFloat16);
  static_assert(dtype_of<uint16_t>() == DType::kUInt16);
}

TEST(TensorAccess, FromBlobBorrowsAndKeepsAlive) {
  auto buffer = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4, 5, 6});
  std::weak_ptr<std::vector<float>> watch = buffer;
  Tensor view;
  {
    Tensor t = Tensor::from_blob(buffer->data(), {2, 3}, DType::kFloat32, buffer);
    buffer.reset();
    EXPECT_FALSE(t.storage()->owned());
    view = t.transpose(0, 1);
  }
  EXPECT_FALSE(watch.expired());  // the view still holds the keep-alive
  EXPECT_EQ(view.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  view = Tensor();
  EXPECT_TRUE(watch.expired());
}

TEST(TensorAccess, FromBlobStridesAndErrors) {
  int32_t raw[12];
  for (int i = 0; i < 12; ++i) raw[i] = i;
  // Every second column of a 3x4 matrix.
  Tensor t = Tensor::from_blob(raw, {3, 2}, DType::kInt32, nullptr, {4, 2});
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.to_vector<int32_t>(), (std::vector<int32_t>{0, 2, 4, 6, 8, 10}));
  raw[2] = 42;  // zero-copy
  EXPECT_EQ(t.to_vector<int32_t>()[1], 42);
  EXPECT_THROW(Tensor::from_blob(raw, {3, 2}, DType::kInt32, nullptr, {4}), Error);
  EXPECT_THROW(Tensor::from_blob(raw, {3, 2}, DType::kInt32, nullptr, {-4, 1}), Error);
  EXPECT_THROW(Tensor::from_blob(nullptr, {3}, DType::kInt32), Error);
  EXPECT_NO_THROW(Tensor::from_blob(nullptr, {0}, DType::kInt32));
}

// ---- views ----------------------------------------------------------------------------

TEST(TensorViews, NarrowSharesStorage) {
  Tensor t = Tensor::arange(0, 12, 1, DType::kInt32).reshape({3, 4});
  Tensor rows = t.narrow(0, 1, 2);
  EXPECT_TRUE(rows.shares_storage_with(t));
  EXPECT_EQ(rows.shape(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(rows.storage_offset(), 4);
  EXPECT_TRUE(rows.is_contiguous());
  Tensor cols = t.narrow(-1, -3, 2);  // columns 1, 2
  EXPECT_EQ(cols.strides(), (std::vector<int64_t>{4, 1}));
  EXPECT_FALSE(cols.is_contiguous());
  EXPECT_EQ(cols.to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 5, 6, 9, 10}));
  cols.data<int32_t>()[0] = 100;  // write through the view
  EXPECT_EQ(t.to_vector<int32_t>()[1], 100);
  EXPECT_THROW(t.narrow(2, 0, 1), Error);
  EXPECT_THROW(t.narrow(0, 2, 2), Error);
  EXPECT_THROW(t.narrow(0, 4, 0), Error);
  EXPECT_THROW(t.narrow(0, 0, -1), Error);
  EXPECT_EQ(t.narrow(0, 3, 0).numel(), 0);
}

TEST(TensorViews, SliceIsPythonLike) {
  Tensor t = Tensor::arange(0, 10, 1, DType::kInt64);
  // Python: list(range(10))[1:8:3] == [1, 4, 7]; [-3:] == [7, 8, 9]; [-100:2] == [0, 1];
  // [5:2] == []; [::4] == [0, 4, 8].
  EXPECT_EQ(t.slice(0, 1, 8, 3).to_vector<int64_t>(), (std::vector<int64_t>{1, 4, 7}));
  EXPECT_EQ(t.slice(0, 1, 8, 3).strides(), (std::vector<int64_t>{3}));
  EXPECT_EQ(t.slice(0, -3, 100).to_vector<int64_t>(), (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(t.slice(0, -100, 2).to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(t.slice(0, 5, 2).numel(), 0);
  EXPECT_EQ(t.slice(0, 0, 10, 4).to_vector<int64_t>(), (std::vector<int64_t>{0, 4, 8}));
  EXPECT_THROW(t.slice(0, 0, 10, 0), Error);
  EXPECT_THROW(t.slice(0, 0, 10, -1), Error);
  EXPECT_THROW(t.slice(1, 0, 1), Error);
}

TEST(TensorViews, PermuteTransposeContiguous) {
  // NumPy: np.arange(24).reshape(2,3,4).transpose(2,0,1).ravel()
  Tensor t = Tensor::arange(0, 24, 1, DType::kInt32).reshape({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (std::vector<int64_t>{4, 2, 3}));
  EXPECT_EQ(p.strides(), (std::vector<int64_t>{1, 12, 4}));
  EXPECT_TRUE(p.shares_storage_with(t));
  EXPECT_FALSE(p.is_contiguous());
  const std::vector<int32_t> expected = {0, 4, 8,  12, 16, 20, 1, 5, 9,  13, 17, 21,
                                         2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23};
  Tensor c = p.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage_with(t));
  EXPECT_EQ(c.strides(), (std::vector<int64_t>{6, 3, 1}));
  EXPECT_EQ(c.to_vector<int32_t>(), expected);
  EXPECT_TRUE(t.contiguous().shares_storage_with(t));  // already contiguous: no copy
  EXPECT_EQ(t.transpose(0, -1).shape(), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_THROW(t.permute({0, 1}), Error);
  EXPECT_THROW(t.permute({0, 1, 1}), Error);
  EXPECT_THROW(t.permute({0, 1, 3}), Error);
  EXPECT_THROW(t.transpose(0, 3), Error);
}

TEST(TensorViews, ReshapeViewOrCopy) {
  Tensor t = Tensor::arange(0, 6, 1, DType::kInt32);
  Tensor r = t.reshape({2, -1});
  EXPECT_EQ(r.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(r.shares_storage_with(t));
  Tensor transposed = r.transpose(0, 1);
  Tensor flat = transposed.reshape({-1});  // not contiguous: copies
  EXPECT_FALSE(flat.shares_storage_with(t));
  EXPECT_EQ(flat.to_vector<int32_t>(), (std::vector<int32_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(t.reshape({1, 6, 1}).strides(), (std::vector<int64_t>{6, 1, 1}));
}

TEST(TensorViews, ReshapeErrors) {
  Tensor t = Tensor::zeros({6});
  EXPECT_THROW(t.reshape({4}), Error);
  EXPECT_THROW(t.reshape({-1, -1}), Error);
  EXPECT_THROW(t.reshape({-1, 4}), Error);
  EXPECT_THROW(t.reshape({-2, -3}), Error);
  EXPECT_THROW(Tensor::zeros({0}).reshape({0, -1}), Error);
  EXPECT_EQ(Tensor::zeros({1}).reshape({}).rank(), 0);
}

TEST(TensorViews, SqueezeUnsqueeze) {
  Tensor t = Tensor::arange(0, 6, 1, DType::kInt32).reshape({1, 2, 1, 3});
  EXPECT_EQ(t.squeeze().shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.squeeze(2).shape(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(t.squeeze(-4).shape(), (std::vector<int64_t>{2, 1, 3}));
  EXPECT_THROW(t.squeeze(1), Error);
  Tensor u = t.squeeze().unsqueeze(-1);
  EXPECT_EQ(u.shape(), (std::vector<int64_t>{2, 3, 1}));
  EXPECT_TRUE(u.is_contiguous());
  EXPECT_EQ(t.squeeze().unsqueeze(1).strides(), (std::vector<int64_t>{3, 3, 1}));
  EXPECT_THROW(t.unsqueeze(5), Error);
  EXPECT_THROW(t.unsqueeze(-6), Error);
  EXPECT_EQ(t.squeeze().unsqueeze(0).to_vector<int32_t>(), iota_vector<int32_t>(6));
}

TEST(TensorViews, CloneIsIndependent) {
  Tensor t = Tensor::from_vector<double>({1.5, 2.5});
  Tensor c = t.clone();
  c.data<double>()[0] = 9;
  EXPECT_EQ(t.to_vector<double>()[0], 1.5);
  EXPECT_FALSE(c.shares_storage_with(t));
}

TEST(TensorDevice, TagsAndToString) {
  EXPECT_EQ(Device::cpu().to_string(), "cpu");
  EXPECT_EQ(Device::metal(0).to_string(), "metal:0");
  EXPECT_EQ(Device::cuda(1).to_string(), "cuda:1");
  EXPECT_EQ(Device::cuda(1).kind(), Device::Kind::kCuda);
  EXPECT_EQ(Device::cuda(1).index(), 1);
  EXPECT_THROW(Device::cuda(-1), Error);
  Tensor t = Tensor::zeros({2});
  Tensor m = t.with_device(Device::metal(0));
  EXPECT_TRUE(m.shares_storage_with(t));
  EXPECT_EQ(m.device(), Device::metal(0));
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_EQ(m.clone().device(), Device::metal(0));
}

TEST(TensorFormat, ToStringSummary) {
  Tensor t = Tensor::arange(0, 6, 1, DType::kInt32).reshape({2, 3});
  EXPECT_EQ(t.to_string(), "Tensor(int32, [2, 3], cpu, [0, 1, 2, 3, 4, 5])");
  EXPECT_EQ(t.to_string(2), "Tensor(int32, [2, 3], cpu, [0, 1, ...])");
  EXPECT_EQ(t.transpose(0, 1).to_string(4), "Tensor(int32, [3, 2], cpu, [0, 3, 1, 4, ...])");
  EXPECT_EQ(t.to_string(0), "Tensor(int32, [2, 3], cpu, [...])");
  EXPECT_EQ(Tensor::zeros({0, 2}).to_string(), "Tensor(fp32, [0, 2], cpu, [])");
  EXPECT_EQ(Tensor::from_vector<bool>({true, false}).to_string(),
            "Tensor(bool, [2], cpu, [true, false])");
  EXPECT_EQ(Tensor::full({}, 0.5, DType::kFloat16).to_string(), "Tensor(fp16, [], cpu, [0.5])");
  std::ostringstream out;
  out << Tensor::from_vector<uint8_t>({200});
  EXPECT_EQ(out.str(), "Tensor(uint8, [1], cpu, [200])");
}

// ---- conversions against NumPy ------------------------------------------------------------

// Compares bit patterns of two same-typed 2-byte/4-byte/8-byte float tensors; NaN only
// needs to be NaN on both sides (payloads are not specified).
void expect_same_floats(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.dtype(), expected.dtype()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const Tensor a64 = actual.to(DType::kFloat64);
  const Tensor e64 = expected.to(DType::kFloat64);
  const double* a = a64.data<double>();
  const double* e = e64.data<double>();
  const auto* abits = static_cast<const unsigned char*>(actual.contiguous().data());
  const auto* ebits = static_cast<const unsigned char*>(expected.contiguous().data());
  const size_t size = actual.itemsize();
  for (int64_t i = 0; i < actual.numel(); ++i) {
    if (std::isnan(e[i])) {
      EXPECT_TRUE(std::isnan(a[i])) << what << " element " << i;
      continue;
    }
    EXPECT_EQ(std::memcmp(abits + i * size, ebits + i * size, size), 0)
        << what << " element " << i << ": got " << a[i] << ", NumPy " << e[i];
  }
}

Tensor bf16_from_bits(const Tensor& bits) {
  std::vector<BFloat16> values;
  for (uint16_t b : bits.to_vector<uint16_t>()) values.push_back(BFloat16::from_bits(b));
  return Tensor::from_vector(values);
}

TEST(TensorConvert, Float32ToHalfMatchesNumPy) {
  const Tensor src = fixture("conv_f32_src.npy");
  expect_same_floats(src.to(DType::kFloat16), fixture("conv_f32_to_f16.npy"), "f32->f16");
  expect_same_floats(fixture("conv_f32_to_f16.npy").to(DType::kFloat32),
                     fixture("conv_f16_to_f32.npy"), "f16->f32");
}

TEST(TensorConvert, Float32ToBFloat16MatchesReference) {
  const Tensor src = fixture("conv_f32_src.npy");
  expect_same_floats(src.to(DType::kBFloat16), bf16_from_bits(fixture("conv_f32_to_bf16_bits.npy")),
                     "f32->bf16");
}

TEST(TensorConvert, Float64RoundsOnce) {
  const Tensor src = fixture("conv_f64_src.npy");
  expect_same_floats(src.to(DType::kFloat16), fixture("conv_f64_to_f16.npy"), "f64->f16");
  expect_same_floats(src.to(DType::kFloat32), fixture("conv_f64_to_f32.npy"), "f64->f32");
  expect_same_floats(src.to(DType::kBFloat16), bf16_from_bits(fixture("conv_f64_to_bf16_bits.npy")),
                     "f64->bf16");
}

TEST(TensorConvert, IntegerToFloatMatchesNumPy) {
  const Tensor src = fixture("conv_i64_to_float_src.npy");
  expect_same_floats(src.to(DType::kFloat16), fixture("conv_i64_to_f16.npy"), "i64->f16");
  expect_same_floats(src.to(DType::kFloat32), fixture("conv_i64_to_f32.npy"), "i64->f32");
  expect_same_floats(src.to(DType::kFloat64), fixture("conv_i64_to_f64.npy"), "i64->f64");
  expect_same_floats(src.to(DType::kBFloat16), bf16_from_bits(fixture("conv_i64_to_bf16_bits.npy")),
                     "i64->bf16");
}

// Integer tensors compare through int64 (exact for every integer dtype).
void expect_same_integers(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.dtype(), expected.dtype()) << what;
  EXPECT_EQ(actual.to(DType::kInt64).to_vector<int64_t>(),
            expected.to(DType::kInt64).to_vector<int64_t>())
      << what;
}

TEST(TensorConvert, FloatToIntegerMatchesNumPyInRange) {
  for (const char* name : {"int8", "uint8", "int16", "uint16", "int32", "int64"}) {
    const DType target = *dtype_from_name(name);
    const Tensor src = fixture(std::string("conv_f64_to_") + name + "_src.npy");
    expect_same_integers(src.to(target), fixture(std::string("conv_f64_to_") + name + ".npy"),
                         std::string("f64->") + name);
  }
  expect_same_integers(fixture("conv_f16_to_int32_src.npy").to(DType::kInt32),
                       fixture("conv_f16_to_int32.npy"), "f16->int32");
}

TEST(TensorConvert, FloatToIntegerSaturatesAndMapsNaNToZero) {
  // Documented rule (NumPy leaves these undefined).
  const Tensor src =
      Tensor::from_vector<float>({NAN, INFINITY, -INFINITY, 1e10f, -1e10f, 255.5f, -0.9f, 3e38f});
  EXPECT_EQ(src.to(DType::kInt8).to_vector<int8_t>(),
            (std::vector<int8_t>{0, 127, -128, 127, -128, 127, 0, 127}));
  EXPECT_EQ(src.to(DType::kUInt8).to_vector<uint8_t>(),
            (std::vector<uint8_t>{0, 255, 0, 255, 0, 255, 0, 255}));
  EXPECT_EQ(src.to(DType::kInt64).to_vector<int64_t>(),
            (std::vector<int64_t>{0, std::numeric_limits<int64_t>::max(),
                                  std::numeric_limits<int64_t>::min(), 10000000000, -10000000000,
                                  255, 0, std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(Tensor::from_vector<double>({9.3e18, 9.223372036854775807e18})
                .to(DType::kInt64)
                .to_vector<int64_t>(),
            (std::vector<int64_t>{std::numeric_limits<int64_t>::max(),
                                  std::numeric_limits<int64_t>::max()}));
}

TEST(TensorConvert, IntegerToIntegerWrapsLikeNumPy) {
  const Tensor src = fixture("conv_int_wrap_src.npy");
  for (const char* name : {"int8", "uint8", "int16", "uint16", "int32", "int64"}) {
    expect_same_integers(src.to(*dtype_from_name(name)),
                         fixture(std::string("conv_int_wrap_to_") + name + ".npy"),
                         std::string("int64->") + name);
  }
  const Tensor u16 = fixture("conv_u16_wrap_src.npy");
  expect_same_integers(u16.to(DType::kInt8), fixture("conv_u16_wrap_to_int8.npy"), "u16->i8");
  expect_same_integers(u16.to(DType::kInt16), fixture("conv_u16_wrap_to_int16.npy"), "u16->i16");
}

TEST(TensorConvert, BoolRules) {
  const Tensor src = fixture("conv_f32_to_bool_src.npy");
  EXPECT_EQ(src.to(DType::kBool).to_vector<bool>(),
            fixture("conv_f32_to_bool.npy").to_vector<bool>());
  EXPECT_EQ(Tensor::from_vector<int16_t>({0, -5, 256}).to(DType::kBool).to_vector<bool>(),
            (std::vector<bool>{false, true, true}));
  const Tensor flags = Tensor::from_vector<bool>({true, false});
  EXPECT_EQ(flags.to(DType::kFloat16).to_vector<Half>(),
            (std::vector<Half>{Half::from_bits(0x3c00), Half::from_bits(0)}));
  EXPECT_EQ(flags.to(DType::kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(flags.to(DType::kBFloat16).to(DType::kFloat32).to_vector<float>(),
            (std::vector<float>{1, 0}));
}

TEST(TensorConvert, NonContiguousSourceAndSameDType) {
  Tensor t = Tensor::arange(0, 6, 1, DType::kInt32).reshape({2, 3}).transpose(0, 1);
  EXPECT_EQ(t.to(DType::kFloat32).to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor same = t.to(DType::kInt32);
  EXPECT_FALSE(same.shares_storage_with(t));
  EXPECT_TRUE(same.is_contiguous());
}

// Owned storage, from the heap or (large) a mapping of its own: zeroed, aligned, writable to its
// last byte, and alive while a view keeps it (a mapping released early would fault here).
TEST(StorageTest, ZeroedAlignedAndKeptAliveByViews) {
  for (const size_t bytes : {size_t{1}, size_t{100}, (size_t{128} << 10) - 4, size_t{128} << 10,
                             (size_t{200} << 10) + 4, (size_t{3} << 20) + 12}) {
    SCOPED_TRACE(bytes);
    Tensor view;
    {
      std::shared_ptr<Storage> s = Storage::allocate(bytes);
      ASSERT_EQ(s->nbytes(), bytes);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(s->data()) % Storage::kAlignment, 0u);
      for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(s->data()[i], std::byte{0}) << i;
      std::memset(s->data(), 0x5A, bytes);
      view = Tensor::from_blob(s->data(), {static_cast<int64_t>(bytes)}, DType::kUInt8,
                               std::static_pointer_cast<void>(s));
    }
    const auto* data = static_cast<const uint8_t*>(view.data());
    EXPECT_EQ(data[0], 0x5A);
    EXPECT_EQ(data[bytes - 1], 0x5A);
    // A copy for overwriting is as large and as aligned (its bytes are the caller's to write).
    std::shared_ptr<Storage> o = Storage::allocate_for_overwrite(bytes);
    ASSERT_EQ(o->nbytes(), bytes);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(o->data()) % Storage::kAlignment, 0u);
    std::memset(o->data(), 1, bytes);
  }
}

}  // namespace
}  // namespace coreml
