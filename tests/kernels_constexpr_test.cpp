// Compressed constant weights: the packed-index decoder, and the constexpr kernels run
// through an OpContext on hand-made ops. Expected values are NumPy / coremltools output
// (tools/fixtures/constexpr_unit.py -> tests/data/constexpr/).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "coreml/error.h"
#include "coreml/tensor.h"
#include "runtime/compressed/packed_lookup.h"
#include "runtime/kernel_registry.h"

namespace coreml {
namespace {

using runtime::RtValue;

std::string data_path(const std::string& name) {
  return std::string(COREML_TEST_DATA_DIR) + "/constexpr/" + name + ".npy";
}

template <typename T>
std::vector<T> npy(const std::string& name) {
  return load_npy(data_path(name)).contiguous().to_vector<T>();
}

std::vector<uint8_t> npy_bytes(const std::string& name) {
  const Tensor t = load_npy(data_path(name)).contiguous();
  const auto* p = static_cast<const uint8_t*>(t.data());
  return {p, p + t.nbytes()};
}

template <typename T>
std::vector<uint8_t> as_bytes(const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

mil::Value literal(mil::DataType dtype, const std::vector<int64_t>& shape,
                   std::vector<uint8_t> bytes) {
  mil::Value v;
  v.kind = mil::Value::Kind::kTensor;
  std::vector<mil::Dim> dims;
  for (int64_t d : shape) dims.push_back(mil::Dim::of(d));
  v.type = mil::Type::of_tensor(mil::TensorType{dtype, dims});
  v.bytes = std::move(bytes);
  return v;
}

RtValue constant(const mil::Value& v) {
  RtValue r;
  r.raw = runtime::RawConstant::from_literal(v);
  if (runtime::tensor_dtype(r.raw->dtype())) r.tensor = r.raw->to_tensor();
  r.constant = true;
  r.set = true;
  return r;
}

class HeapAllocator : public runtime::BufferAllocator {
 public:
  Tensor allocate(size_t, const std::vector<int64_t>& shape, DType dtype) override {
    return Tensor::empty(shape, dtype);
  }
};

// Runs one constexpr kernel with the given inputs (iOS18 style) and attributes (iOS16 style).
RtValue run_kernel(const std::string& type, const std::map<std::string, RtValue>& inputs,
                   const std::map<std::string, mil::Value>& attributes, mil::DataType out_dtype,
                   const std::vector<int64_t>& out_shape) {
  mil::Operation op;
  op.type = type;
  for (const auto& [name, value] : inputs) op.inputs[name].bindings.push_back({name, {}});
  op.attributes = attributes;
  op.attributes["name"] = mil::Value::string_scalar("w");
  std::vector<mil::Dim> dims;
  for (int64_t d : out_shape) dims.push_back(mil::Dim::of(d));
  op.outputs.push_back({"w", mil::Type::of_tensor(mil::TensorType{out_dtype, dims})});
  std::vector<std::vector<const RtValue*>> bound;
  for (const auto& [name, arg] : op.inputs) bound.push_back({&inputs.at(name)});
  std::vector<RtValue> outputs(1);
  HeapAllocator heap;
  runtime::ThreadPool pool(1);
  runtime::OpContext ctx(op, bound, outputs, heap, pool);
  const runtime::Kernel kernel = runtime::KernelRegistry::global().find(type);
  EXPECT_NE(kernel, nullptr) << type;
  kernel(ctx);
  return outputs[0];
}

void expect_floats_near(const float* got, const std::vector<float>& want, size_t offset,
                        size_t count, float tol = 1e-6f) {
  for (size_t i = 0; i < count; ++i) {
    ASSERT_NEAR(got[i], want[offset + i], tol) << "element " << offset + i;
  }
}

TEST(PackedLookup, EveryWidthMatchesNumPyAtEveryAlignment) {
  for (int bits : {1, 2, 3, 4, 6, 8}) {
    const auto codes = npy<uint8_t>("codes_bits" + std::to_string(bits));
    const auto packed = npy_bytes("packed_bits" + std::to_string(bits));
    std::vector<float> identity(size_t{1} << bits);
    for (size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<float>(i);
    std::vector<float> want(codes.begin(), codes.end());
    for (int64_t first : {0, 1, 2, 3, 5, 7, 8, 9, 13, 16, 17}) {
      for (int64_t count : {0, 1, 2, 7, 8, 9, 15, 16, 17, 64, 150}) {
        std::vector<float> got(static_cast<size_t>(count));
        runtime::compressed::packed_lookup(packed.data(), bits, first, count, identity.data(),
                                           got.data());
        SCOPED_TRACE(testing::Message()
                     << "bits " << bits << " first " << first << " count " << count);
        expect_floats_near(got.data(), want, static_cast<size_t>(first),
                           static_cast<size_t>(count));
      }
    }
  }
}

TEST(PackedLookup, SignedValueTable) {
  const auto t = runtime::compressed::integer_value_table(4, true);
  EXPECT_EQ(t[7], 7.0f);
  EXPECT_EQ(t[8], -8.0f);
  EXPECT_EQ(t[15], -1.0f);
}

// ANEMLL's layout: lut [Cout/8, 1, 1, 1, 16, 1] for a conv weight [Cout, Cin, 1, 1].
TEST(ConstexprLut, PerGroupedChannelConvWeightStaysCompressed) {
  const auto lut = npy<float>("conv_lut4_lut");
  const auto want = npy<float>("conv_lut4_expected");
  std::map<std::string, RtValue> in;
  in["indices"] =
      constant(literal(mil::DataType::kUInt4, {64, 272, 1, 1}, npy_bytes("conv_lut4_packed")));
  in["lut"] = constant(literal(mil::DataType::kFloat32, {8, 1, 1, 1, 16, 1}, as_bytes(lut)));
  const RtValue w =
      run_kernel("constexpr_lut_to_dense", in, {}, mil::DataType::kFloat32, {64, 272, 1, 1});
  ASSERT_TRUE(w.compressed) << "a 68 KiB weight must not be expanded at load";
  EXPECT_EQ(w.compressed->kind(), "lut");
  EXPECT_EQ(w.shape(), (std::vector<int64_t>{64, 272, 1, 1}));
  EXPECT_LT(w.compressed->stored_bytes(), 64 * 272 * 4 / 6);
  EXPECT_EQ(w.compressed->row_size(), 272);
  std::vector<float> rows(64 * 272);
  w.compressed->decode_rows(0, 64, rows.data());
  expect_floats_near(rows.data(), want, 0, want.size());
  w.compressed->decode_rows(7, 9, rows.data());  // crosses a table boundary (rows 7 | 8)
  expect_floats_near(rows.data(), want, 7 * 272, 2 * 272);
  const Tensor dense = w.dense();
  expect_floats_near(dense.data<float>(), want, 0, want.size());
  EXPECT_THROW(w.compressed->decode_rows(60, 65, rows.data()), Error);
}

TEST(ConstexprLut, VectorPalettizationAlongAxis1) {
  std::map<std::string, RtValue> in;
  in["indices"] =
      constant(literal(mil::DataType::kUInt3, {4, 5, 6}, npy_bytes("vector_lut3_packed")));
  in["lut"] = constant(
      literal(mil::DataType::kFloat32, {1, 1, 2, 8, 2}, as_bytes(npy<float>("vector_lut3_lut"))));
  in["vector_axis"] =
      constant(literal(mil::DataType::kInt32, {}, as_bytes(std::vector<int32_t>{1})));
  const RtValue w =
      run_kernel("constexpr_lut_to_dense", in, {}, mil::DataType::kFloat32, {4, 10, 6});
  const Tensor dense = w.dense();
  ASSERT_EQ(dense.shape(), (std::vector<int64_t>{4, 10, 6}));
  const auto want = npy<float>("vector_lut3_expected");
  expect_floats_near(dense.data<float>(), want, 0, want.size());
}

// iOS16 form: everything as attributes; a small result is materialized dense.
TEST(ConstexprLut, Ios16AttributesLut6) {
  const auto codes = npy<uint8_t>("codes_bits6");
  std::vector<float> lut(64);
  for (size_t i = 0; i < lut.size(); ++i) lut[i] = 0.25f * static_cast<float>(i) - 3.0f;
  std::map<std::string, mil::Value> attrs;
  const auto packed = npy_bytes("packed_bits6");
  attrs["indices"] = literal(mil::DataType::kUInt8, {static_cast<int64_t>(packed.size())}, packed);
  attrs["lut"] = literal(mil::DataType::kFloat32, {64}, as_bytes(lut));
  attrs["shape"] = literal(mil::DataType::kUInt32, {2}, as_bytes(std::vector<uint32_t>{7, 29}));
  const RtValue w =
      run_kernel("constexpr_lut_to_dense", {}, attrs, mil::DataType::kFloat32, {7, 29});
  EXPECT_FALSE(w.compressed);
  ASSERT_EQ(w.tensor.shape(), (std::vector<int64_t>{7, 29}));
  for (size_t i = 0; i < codes.size(); ++i) {
    ASSERT_EQ(w.tensor.data<float>()[i], 0.25f * codes[i] - 3.0f) << i;
  }
  // 203 six-bit codes need 153 bytes: fewer is an error, not a read past the end.
  attrs["indices"] = literal(mil::DataType::kUInt8, {100}, std::vector<uint8_t>(100));
  EXPECT_THROW(run_kernel("constexpr_lut_to_dense", {}, attrs, mil::DataType::kFloat32, {7, 29}),
               Error);
  attrs["lut"] = literal(mil::DataType::kFloat32, {3}, as_bytes(std::vector<float>{1, 2, 3}));
  EXPECT_THROW(run_kernel("constexpr_lut_to_dense", {}, attrs, mil::DataType::kFloat32, {7, 29}),
               Error);
}

TEST(ConstexprBlockwise, Int4BlocksOf32WithOffsetStayCompressed) {
  const auto want = npy<float>("block_int4_expected");
  std::map<std::string, RtValue> in;
  in["data"] = constant(literal(mil::DataType::kInt4, {64, 256}, npy_bytes("block_int4_packed")));
  in["scale"] =
      constant(literal(mil::DataType::kFloat32, {64, 8}, as_bytes(npy<float>("block_int4_scale"))));
  in["offset"] =
      constant(literal(mil::DataType::kInt4, {64, 8}, npy_bytes("block_int4_offset_packed")));
  const RtValue w =
      run_kernel("constexpr_blockwise_shift_scale", in, {}, mil::DataType::kFloat32, {64, 256});
  ASSERT_TRUE(w.compressed);
  EXPECT_EQ(w.compressed->kind(), "blockwise");
  std::vector<float> rows(64 * 256);
  w.compressed->decode_rows(0, 64, rows.data());
  expect_floats_near(rows.data(), want, 0, want.size(), 1e-5f);
  w.compressed->decode_rows(33, 35, rows.data());
  expect_floats_near(rows.data(), want, 33 * 256, 2 * 256, 1e-5f);
  // Scale grid that does not divide the data.
  in["scale"] =
      constant(literal(mil::DataType::kFloat32, {64, 3}, std::vector<uint8_t>(64 * 3 * 4)));
  in.erase("offset");
  EXPECT_THROW(
      run_kernel("constexpr_blockwise_shift_scale", in, {}, mil::DataType::kFloat32, {64, 256}),
      Error);
}

// Chained: blockwise scales applied to a palettized int8 weight (joint compression).
TEST(ConstexprBlockwise, ScalesAPalettizedWeight) {
  std::map<std::string, RtValue> lut_in;
  lut_in["indices"] =
      constant(literal(mil::DataType::kUInt4, {64, 272, 1, 1}, npy_bytes("conv_lut4_packed")));
  lut_in["lut"] = constant(
      literal(mil::DataType::kFloat32, {8, 1, 1, 1, 16, 1}, as_bytes(npy<float>("conv_lut4_lut"))));
  RtValue palettized =
      run_kernel("constexpr_lut_to_dense", lut_in, {}, mil::DataType::kFloat32, {64, 272, 1, 1});
  palettized.constant = true;
  std::vector<float> scale(64);
  for (size_t i = 0; i < scale.size(); ++i) scale[i] = 0.5f + static_cast<float>(i);
  std::map<std::string, RtValue> in;
  in["data"] = palettized;
  in["scale"] = constant(literal(mil::DataType::kFloat32, {64, 1, 1, 1}, as_bytes(scale)));
  const RtValue w = run_kernel("constexpr_blockwise_shift_scale", in, {}, mil::DataType::kFloat32,
                               {64, 272, 1, 1});
  ASSERT_TRUE(w.compressed);
  const auto base = npy<float>("conv_lut4_expected");
  std::vector<float> want(base.size());
  for (size_t i = 0; i < base.size(); ++i) want[i] = base[i] * scale[i / 272];
  std::vector<float> rows(3 * 272);
  w.compressed->decode_rows(10, 13, rows.data());
  expect_floats_near(rows.data(), want, 10 * 272, 3 * 272, 1e-5f);
}

TEST(ConstexprAffine, PerAxisInt8) {
  // q [2, 3] int8, axis 1: scale (1, 2, 4), zero_point (0, 1, -1) -> scale * (q - zp).
  std::map<std::string, mil::Value> attrs;
  attrs["quantized_data"] =
      literal(mil::DataType::kInt8, {2, 3}, {0x01, 0xFF, 0x05, 0x80, 0x7F, 0x00});
  attrs["scale"] = literal(mil::DataType::kFloat32, {3}, as_bytes(std::vector<float>{1, 2, 4}));
  attrs["zero_point"] = literal(mil::DataType::kInt8, {3}, {0x00, 0x01, 0xFF});
  attrs["axis"] = literal(mil::DataType::kInt32, {}, as_bytes(std::vector<int32_t>{1}));
  const RtValue w =
      run_kernel("constexpr_affine_dequantize", {}, attrs, mil::DataType::kFloat32, {2, 3});
  const std::vector<float> want = {1, -4, 24, -128, 252, 4};
  expect_floats_near(w.dense().data<float>(), want, 0, want.size());
}

}  // namespace
}  // namespace coreml
