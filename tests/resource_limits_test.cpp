// Resource limits (coreml/limits.h): environment overrides, the per-tensor and activation
// budgets, and the ops that size big outputs from parameters, run end to end from MIL text
// programs. Expected values of range_1d come from Python's range() over the same integers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "coreml/model.h"
#include "runtime/limits.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using coreml::test::error_of;

class ResourceLimitsTest : public ::testing::Test {
 protected:
  void TearDown() override { coreml::set_resource_limits(coreml::ResourceLimits{}); }

  // A compiled model whose main function takes `signature` and runs `body` (MIL text lines).
  coreml::Model program(const std::string& signature, const std::string& body,
                        const std::string& outputs, const std::string& opset = "ios17") {
    const fs::path folder = dir_ / ("m" + std::to_string(counter_++) + ".mlmodelc");
    fs::create_directories(folder);
    std::ofstream(folder / "model.mil")
        << "program(1.3)\n{\n  func main<" << opset << ">(" << signature << ") {\n"
        << body << "  } -> (" << outputs << ");\n}\n";
    return coreml::Model::load(folder.string(), {.threads = 1});
  }

  coreml::test::TempDir temp_{"limits_test"};
  const fs::path dir_ = temp_.path();
  int counter_ = 0;
};

TEST_F(ResourceLimitsTest, EnvironmentOverridesTheDefaults) {
  const coreml::ResourceLimits defaults;
  EXPECT_EQ(defaults.max_tensor_bytes, uint64_t{4} << 30);
  setenv("COREML_MAX_TENSOR_BYTES", "8G", 1);
  setenv("COREML_MAX_ACTIVATION_BYTES", "512MiB", 1);
  setenv("COREML_MAX_LOOP_SECONDS", "2.5", 1);
  setenv("COREML_MAX_ZIP_ENTRIES", "12", 1);
  const auto limits = coreml::runtime::resource_limits_from_environment();
  EXPECT_EQ(limits.max_tensor_bytes, uint64_t{8} << 30);
  EXPECT_EQ(limits.max_activation_bytes, uint64_t{512} << 20);
  EXPECT_EQ(limits.max_loop_seconds, 2.5);
  EXPECT_EQ(limits.max_zip_entries, 12u);
  EXPECT_EQ(limits.max_zip_bytes, defaults.max_zip_bytes);
  setenv("COREML_MAX_TENSOR_BYTES", "lots", 1);
  EXPECT_HAS(error_of([] { coreml::runtime::resource_limits_from_environment(); }),
             "COREML_MAX_TENSOR_BYTES='lots'");
  setenv("COREML_MAX_TENSOR_BYTES", "1024", 1);
  setenv("COREML_MAX_LOOP_SECONDS", "-1", 1);
  EXPECT_HAS(error_of([] { coreml::runtime::resource_limits_from_environment(); }),
             "COREML_MAX_LOOP_SECONDS='-1'");
  for (const char* name : {"COREML_MAX_TENSOR_BYTES", "COREML_MAX_ACTIVATION_BYTES",
                           "COREML_MAX_LOOP_SECONDS", "COREML_MAX_ZIP_ENTRIES"}) {
    unsetenv(name);
  }
}

TEST_F(ResourceLimitsTest, TensorBudgetNamesWhereAndTheShape) {
  coreml::ResourceLimits limits;
  limits.max_tensor_bytes = 1 << 20;
  coreml::set_resource_limits(limits);
  using coreml::runtime::check_tensor_budget;
  EXPECT_NO_THROW(check_tensor_budget({512, 1024}, coreml::DType::kFloat16, "op 'x': "));
  const std::string over = error_of([] {
    check_tensor_budget({1024, 1024}, coreml::DType::kFloat16, "op 'x' (fill): ");
  });
  EXPECT_HAS(over, "op 'x' (fill): a fp16 tensor of shape [1024, 1024] needs 2 MiB");
  EXPECT_HAS(over, "COREML_MAX_TENSOR_BYTES");
  const std::string overflow = error_of([] {
    check_tensor_budget({int64_t{1} << 40, int64_t{1} << 40}, coreml::DType::kInt8, "w: ");
  });
  EXPECT_HAS(overflow, "is impossible");
  EXPECT_HAS(error_of([] {
               check_tensor_budget({-1, 2}, coreml::DType::kInt8, "w: ");
             }),
             "is impossible");
}

// Python: list(range(start, end, step)) for each; range_1d follows the same rule.
TEST_F(ResourceLimitsTest, RangeOverTheWholeInt64LineIsExact) {
  struct Case {
    const char* start;
    const char* end;
    const char* step;
    std::vector<int64_t> expected;
  };
  const std::vector<Case> cases = {
      {"-9223372036854775808",
       "9223372036854775807",
       "4611686018427387904",
       {INT64_MIN, -4611686018427387904, 0, 4611686018427387904}},
      {"9223372036854775807",
       "-9223372036854775808",
       "-6148914691236517205",
       {INT64_MAX, 3074457345618258602, -3074457345618258603}},
      {"-9223372036854775808",
       "-9223372036854775800",
       "3",
       {INT64_MIN, -9223372036854775805, -9223372036854775802}},
      {"5", "-9223372036854775808", "1", {}},
  };
  for (const auto& c : cases) {
    auto model =
        program("tensor<fp32, [1]> x",
                std::string("    int64 s = const()[name = string(\"s\"), val = int64(") + c.start +
                    ")];\n    int64 e = const()[name = string(\"e\"), val = int64(" + c.end +
                    ")];\n    int64 k = const()[name = string(\"k\"), val = int64(" + c.step +
                    ")];\n    tensor<int64, [?]> y = range_1d(end = e, start = s, step = k)"
                    "[name = string(\"y\")];\n    tensor<fp32, [1]> z = identity(x = x)[name = "
                    "string(\"z\")];\n",
                "y, z");
    const auto out = model.predict({{"x", coreml::Tensor::zeros({1})}});
    const coreml::Tensor y = out.at("y").to(coreml::DType::kInt64).contiguous();
    ASSERT_EQ(y.numel(), static_cast<int64_t>(c.expected.size())) << c.start << " " << c.step;
    for (size_t i = 0; i < c.expected.size(); ++i) EXPECT_EQ(y.data<int64_t>()[i], c.expected[i]);
  }
  // And the whole line in steps of 1: 2^64 - 1 values, refused by the budget, not wrapped to [].
  const std::string message = error_of([&] {
    program("tensor<fp32, [1]> x",
            "    int64 s = const()[name = string(\"s\"), val = int64(-9223372036854775808)];\n"
            "    int64 e = const()[name = string(\"e\"), val = int64(9223372036854775807)];\n"
            "    int64 k = const()[name = string(\"k\"), val = int64(1)];\n"
            "    tensor<int64, [?]> y = range_1d(end = e, start = s, step = k)[name = "
            "string(\"y\")];\n"
            "    tensor<fp32, [1]> z = identity(x = x)[name = string(\"z\")];\n",
            "y, z");
  });
  EXPECT_HAS(message, "op 'y' (range_1d): a range of 18446744073709551615 values");
}

TEST_F(ResourceLimitsTest, OpsSizingOutputsFromParametersAreBudgeted) {
  // Each asks for far more than 4 GiB from a tiny input; the error names the op and shape.
  const std::string one_hot = error_of([&] {
    auto m = program("tensor<int32, [2]> x",
                     "    int32 d = const()[name = string(\"d\"), val = int32(2147483647)];\n"
                     "    tensor<fp32, [2, 4]> y = one_hot(indices = x, one_hot_vector_size = d)"
                     "[name = string(\"y\")];\n",
                     "y");
    m.predict({{"x", coreml::Tensor::zeros({2}, coreml::DType::kInt32)}});
  });
  EXPECT_HAS(one_hot, "op 'y' (one_hot): a fp32 tensor of shape [2, 2147483647] needs 16 GiB");
  const std::string tile = error_of([&] {
    auto m = program("tensor<fp32, [1, 4]> x",
                     "    tensor<int32, [2]> r = const()[name = string(\"r\"), val = "
                     "tensor<int32, [2]>([65536, 65536])];\n"
                     "    tensor<fp32, [?, ?]> y = tile(x = x, reps = r)[name = string(\"y\")];\n",
                     "y");
    m.predict({{"x", coreml::Tensor::zeros({1, 4})}});
  });
  EXPECT_HAS(tile, "op 'y' (tile): a fp32 tensor of shape [65536, 262144]");
  const std::string state = error_of([&] {
    auto m =
        program("tensor<fp16, [1]> x, state<tensor<fp16, [1099511627776]>> acc",
                "    tensor<fp16, [1]> y = identity(x = x)[name = string(\"y\")];\n", "y", "ios18");
    m.make_state();
  });
  EXPECT_HAS(state, "state 'acc': a fp16 tensor of shape [1099511627776] needs 2 TiB");
}

TEST_F(ResourceLimitsTest, ActivationBudgetBoundsAPrediction) {
  coreml::ResourceLimits limits;
  limits.max_activation_bytes = 64 << 10;
  coreml::set_resource_limits(limits);
  auto model =
      program("tensor<fp32, [128, 128]> x",
              "    tensor<fp32, [128, 128]> a = relu(x = x)[name = string(\"a\")];\n"
              "    tensor<fp32, [128, 128]> b = mul(x = a, y = x)[name = string(\"b\")];\n",
              "b");
  const std::string message = error_of([&] {
    model.predict({{"x", coreml::Tensor::zeros({128, 128})}});
  });
  EXPECT_HAS(message, "COREML_MAX_ACTIVATION_BYTES");
}

TEST_F(ResourceLimitsTest, EndlessLoopsStopAtTheTimeLimit) {
  coreml::ResourceLimits limits;
  limits.max_loop_seconds = 0.2;
  coreml::set_resource_limits(limits);
  auto model =
      program("tensor<fp32, [1]> x",
              "    tensor<fp32, [1]> y = while_loop(loop_vars = x)[name = string(\"y\")] {\n"
              "      (tensor<fp32, [1]> v) {\n"
              "        fp32 lim = const()[name = string(\"lim\"), val = fp32(0x1p+1)];\n"
              "        tensor<bool, [1]> c = less(x = v, y = lim)[name = string(\"c\")];\n"
              "      } -> (c);\n"
              "      (tensor<fp32, [1]> v) {\n"
              "        tensor<fp32, [1]> n = identity(x = v)[name = string(\"n\")];\n"
              "      } -> (n);\n"
              "    };\n",
              "y");
  const std::string message = error_of([&] { model.predict({{"x", coreml::Tensor::zeros({1})}}); });
  EXPECT_HAS(message, "op 'y' (while_loop): still running after 0.2 seconds");
  EXPECT_HAS(message, "COREML_MAX_LOOP_SECONDS");
  limits.max_loop_seconds = 1000;
  limits.max_loop_iterations = 1000;
  coreml::set_resource_limits(limits);
  EXPECT_HAS(error_of([&] {
               model.predict({{"x", coreml::Tensor::zeros({1})}});
             }),
             "did not finish within 1000 iterations");
}

}  // namespace
