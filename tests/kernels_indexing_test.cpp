// Focused tests of indexing/shape kernels beyond the conformance cases: gather reads a
// compressed embedding table row by row (never expanding it), bad indices throw, and
// reshape of contiguous data is a view.
#include <gtest/gtest.h>

#include <atomic>

#include "runtime/kernel_registry.h"
#include "runtime/op_context.h"

namespace coreml {
namespace {

using runtime::RtValue;

// A [rows, 3] table whose element (r, c) is 10 * r + c; records the widest decode request.
class FakeTable : public runtime::CompressedWeight {
 public:
  explicit FakeTable(int64_t rows) : shape_{rows, 3} {}
  const std::vector<int64_t>& shape() const override { return shape_; }
  DType dtype() const override { return DType::kFloat16; }
  std::string_view kind() const override { return "lut"; }
  void decode_rows(int64_t begin, int64_t end, float* out) const override {
    int64_t widest = widest_rows.load();
    while (end - begin > widest && !widest_rows.compare_exchange_weak(widest, end - begin)) {
    }
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t c = 0; c < 3; ++c) *out++ = static_cast<float>(10 * r + c);
    }
  }
  int64_t stored_bytes() const override { return 0; }
  mutable std::atomic<int64_t> widest_rows{0};

 private:
  std::vector<int64_t> shape_;
};

class HeapAllocator : public runtime::BufferAllocator {
 public:
  Tensor allocate(size_t, const std::vector<int64_t>& shape, DType dtype) override {
    return Tensor::empty(shape, dtype);
  }
};

mil::Operation make_op(const std::string& type, const std::vector<std::string>& inputs,
                       mil::DataType out_dtype) {
  mil::Operation op;
  op.type = type;
  for (const auto& name : inputs) op.inputs[name].bindings.push_back(mil::Binding{name, {}});
  op.outputs.push_back({"out", mil::Type::of_tensor(mil::TensorType{out_dtype, std::nullopt})});
  op.attributes["name"] = mil::Value::string_scalar(type + "_0");
  return op;
}

// Runs `op` with `values` bound to its inputs (in op.inputs order, i.e. by name).
RtValue run(const mil::Operation& op, const std::map<std::string, const RtValue*>& values) {
  std::vector<std::vector<const RtValue*>> inputs;
  for (const auto& [name, arg] : op.inputs) inputs.push_back({values.at(name)});
  std::vector<RtValue> outputs(op.outputs.size());
  HeapAllocator allocator;
  runtime::OpContext ctx(op, inputs, outputs, allocator, *runtime::ThreadPool::shared(0));
  const runtime::Kernel kernel = runtime::KernelRegistry::global().find(op.type);
  if (!kernel) throw std::runtime_error("no kernel for " + op.type);
  kernel(ctx);
  return outputs[0];
}

TEST(KernelsIndexing, GatherDecodesCompressedRowsOneAtATime) {
  auto table = std::make_shared<FakeTable>(6);
  RtValue x;
  x.compressed = table;
  x.constant = x.set = true;
  const RtValue indices = RtValue::of(Tensor::from_vector<int32_t>({5, 0, -1, 2}, {{2, 2}}));
  const RtValue out = run(make_op("gather", {"x", "indices"}, mil::DataType::kFloat16),
                          {{"x", &x}, {"indices", &indices}});
  ASSERT_EQ(out.tensor.shape(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(out.tensor.dtype(), DType::kFloat16);
  const auto got = out.tensor.to(DType::kFloat32).to_vector<float>();
  const std::vector<float> want = {50, 51, 52, 0, 1, 2, 50, 51, 52, 20, 21, 22};
  EXPECT_EQ(got, want);
  EXPECT_EQ(table->widest_rows.load(), 1) << "the table was expanded instead of read by rows";
}

TEST(KernelsIndexing, GatherRejectsOutOfRangeIndices) {
  const RtValue x = RtValue::of(Tensor::arange(0, 12).reshape({4, 3}));
  for (int32_t bad : {4, -5}) {
    const RtValue indices = RtValue::of(Tensor::from_vector<int32_t>({0, bad}));
    EXPECT_THROW(run(make_op("gather", {"x", "indices"}, mil::DataType::kFloat32),
                     {{"x", &x}, {"indices", &indices}}),
                 Error);
  }
}

TEST(KernelsIndexing, GatherAlongAxisRejectsOutOfRangeIndices) {
  const RtValue x = RtValue::of(Tensor::arange(0, 6).reshape({2, 3}));
  const RtValue indices = RtValue::of(Tensor::from_vector<int32_t>({0, 1, 2, 0, 7, 1}, {{2, 3}}));
  EXPECT_THROW(run(make_op("gather_along_axis", {"x", "indices"}, mil::DataType::kFloat32),
                   {{"x", &x}, {"indices", &indices}}),
               Error);
}

TEST(KernelsShape, ReshapeOfContiguousDataIsAView) {
  const RtValue x = RtValue::of(Tensor::arange(0, 12).reshape({3, 4}));
  const RtValue shape = RtValue::of(Tensor::from_vector<int32_t>({2, -1}));
  const RtValue out = run(make_op("reshape", {"x", "shape"}, mil::DataType::kFloat32),
                          {{"x", &x}, {"shape", &shape}});
  EXPECT_EQ(out.tensor.shape(), (std::vector<int64_t>{2, 6}));
  EXPECT_TRUE(out.tensor.shares_storage_with(x.tensor));
}

TEST(KernelsShape, ReshapeRejectsAWrongElementCount) {
  const RtValue x = RtValue::of(Tensor::arange(0, 12));
  const RtValue shape = RtValue::of(Tensor::from_vector<int32_t>({5, -1}));
  EXPECT_THROW(run(make_op("reshape", {"x", "shape"}, mil::DataType::kFloat32),
                   {{"x", &x}, {"shape", &shape}}),
               Error);
}

}  // namespace
}  // namespace coreml
