// Bad parameters of the issue-10 kernels are coreml::Errors naming the op, never crashes or
// runaway allocations: each case is a one-op program (MIL text in a temporary .mlmodelc).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "coreml/model.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

class OpErrors : public ::testing::Test {
 protected:
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `statement` (defining y from x [1, 1, 4, 4]) and returns the error message.
  std::string error_of(const std::string& statement) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "model.mil")
        << "program(1.3)\n{\nfunc main<ios18>(tensor<fp32, [1, 1, 4, 4]> x) {\n"
        << statement << "\n} -> (y);\n}\n";
    try {
      Model model = Model::load(dir_.string());
      model.predict({{"x", Tensor::zeros({1, 1, 4, 4})}});
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }

  fs::path dir_ =
      fs::temp_directory_path() / ("coreml_op_errors_" + std::to_string(::getpid()) + ".mlmodelc");
};

TEST_F(OpErrors, ResizeToAHugeSize) {
  const auto m = error_of(
      "tensor<fp32, [1, 1, 100000, 100000]> y = resize_bilinear(x = x, target_size_height = "
      "int32(100000), target_size_width = int32(100000))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (resize_bilinear)"), std::string::npos) << m;
  EXPECT_NE(m.find("more than"), std::string::npos) << m;
}

TEST_F(OpErrors, SlidingWindowLargerThanTheAxis) {
  const auto m = error_of(
      "tensor<fp32, [1, 1, 1, 9, 4]> y = sliding_windows(x = x, axis = int32(2), size = int32(9))"
      "[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (sliding_windows)"), std::string::npos) << m;
  EXPECT_NE(m.find("exceeds"), std::string::npos) << m;
}

TEST_F(OpErrors, CropLargerThanTheImage) {
  const auto m = error_of(
      "tensor<fp32, [1, 1, 1, 1]> y = crop(x = x, crop_height = tensor<int32, [2]>([3, 2]), "
      "crop_width = tensor<int32, [2]>([0, 0]))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (crop)"), std::string::npos) << m;
  EXPECT_NE(m.find("do not fit"), std::string::npos) << m;
}

TEST_F(OpErrors, CropResizeBoxOfAMissingImage) {
  const auto m = error_of(
      "tensor<fp32, [1, 1, 2, 2]> y = crop_resize(x = x, boxes = tensor<fp32, [1, 4]>([[0, 0, 1, "
      "1]]), box_indices = tensor<int32, [1]>([3]), target_height = int32(2), target_width = "
      "int32(2))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (crop_resize)"), std::string::npos) << m;
  EXPECT_NE(m.find("refers to image 3"), std::string::npos) << m;
}

TEST_F(OpErrors, SpaceToBatchPaddingNotAMultipleOfTheBlock) {
  const auto m = error_of(
      "tensor<fp32, [4, 1, 2, 2]> y = space_to_batch(x = x, block_shape = tensor<int32, [2]>([2, "
      "2]), "
      "paddings = tensor<int32, [2, 2]>([[0, 1], [0, 0]]))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (space_to_batch)"), std::string::npos) << m;
  EXPECT_NE(m.find("not a multiple"), std::string::npos) << m;
}

TEST_F(OpErrors, QuantizeWithZeroScale) {
  const auto m = error_of(
      "tensor<int8, [1, 1, 4, 4]> y = quantize(input = x, scale = fp32(0), output_dtype = "
      "string(\"int8\"))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (quantize)"), std::string::npos) << m;
  EXPECT_NE(m.find("non-zero"), std::string::npos) << m;
}

TEST_F(OpErrors, RandomWithAHugeShape) {
  const auto m = error_of(
      "tensor<fp32, [100000, 100000, 100000]> y = random_uniform(shape = tensor<int32, "
      "[3]>([100000, "
      "100000, 100000]))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (random_uniform)"), std::string::npos) << m;
  EXPECT_NE(m.find("too large"), std::string::npos) << m;
}

// Padding, strides and dilations are file data: overflowing extents are errors before any
// kernel (the prepared ones included) sizes a buffer with them.
TEST_F(OpErrors, ConvPaddedToMoreThanTheTensorBudget) {
  const auto m = error_of(
      "tensor<fp32, [1, 1, 1, 1]> w = const()[name = string(\"w\"), val = tensor<fp32, [1, 1, 1, "
      "1]>([1])];\n"
      "tensor<fp32, [1, 1, 4, 4]> y = conv(x = x, weight = w, pad_type = string(\"custom\"), pad "
      "= tensor<int32, [4]>([2147483647, 2147483647, 2147483647, 2147483647]))[name = "
      "string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (conv)"), std::string::npos) << m;
  EXPECT_NE(m.find("[1 x 1 x 4294967298 x 4294967298] is larger than the 4 GiB"), std::string::npos)
      << m;
}

TEST_F(OpErrors, ConvDilationOverflows) {
  const auto m = error_of(
      "tensor<fp32, [1, 1, 3, 3]> w = const()[name = string(\"w\"), val = tensor<fp32, [1, 1, 3, "
      "3]>([1, 1, 1, 1, 1, 1, 1, 1, 1])];\n"
      "tensor<fp32, [1, 1, 4, 4]> y = conv(x = x, weight = w, dilations = tensor<int64, [2]>([1, "
      "6917529027641081856]))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (conv)"), std::string::npos) << m;
  EXPECT_NE(m.find("spatial dimension 1: the padded input or the dilated kernel is larger than "
                   "2^63"),
            std::string::npos)
      << m;
}

TEST_F(OpErrors, ConvTransposeStrideOverflows) {
  const auto m = error_of(
      "tensor<fp32, [1, 1, 2, 2]> w = const()[name = string(\"w\"), val = tensor<fp32, [1, 1, 2, "
      "2]>([1, 1, 1, 1])];\n"
      "tensor<fp32, [1, 1, 8, 8]> y = conv_transpose(x = x, weight = w, strides = tensor<int64, "
      "[2]>([4611686018427387904, 2]))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (conv_transpose)"), std::string::npos) << m;
  EXPECT_NE(m.find("spatial dimension 0 is larger than 2^63"), std::string::npos) << m;
}

TEST_F(OpErrors, ConvTransposeCroppedBelowNothing) {
  const auto m = error_of(
      "tensor<fp32, [1, 1, 2, 2]> w = const()[name = string(\"w\"), val = tensor<fp32, [1, 1, 2, "
      "2]>([1, 1, 1, 1])];\n"
      "tensor<fp32, [1, 1, 8, 8]> y = conv_transpose(x = x, weight = w, pad_type = "
      "string(\"custom\"), pad = tensor<int64, [4]>([9223372036854775807, 9223372036854775807, 0, "
      "0]))[name = string(\"y\")];");
  EXPECT_NE(m.find("op 'y' (conv_transpose)"), std::string::npos) << m;
  EXPECT_NE(m.find("must be positive"), std::string::npos) << m;
}

}  // namespace
}  // namespace coreml
