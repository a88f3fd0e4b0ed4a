// coreml::Model on the native runtime: input checking and conversion, states that persist and are
// shared across functions, positional forward, and load-time errors.
#include "coreml/model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace coreml {
namespace {

namespace fs = std::filesystem;
const fs::path kData = fs::path(COREML_TEST_DATA_DIR);

std::string models(const std::string& name) { return (kData / "models" / name).string(); }

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

Tensor half_tensor(const std::vector<float>& values, std::vector<int64_t> shape) {
  return Tensor::from_vector(values, shape).to(DType::kFloat16);
}

std::vector<float> as_floats(const Tensor& t) { return t.to(DType::kFloat32).to_vector<float>(); }

// Small integers add exactly in fp16, so the running sum is known without rounding questions.
TEST(Model, StateAccumulatesAcrossPredictions) {
  Model model = Model::load(models("stateful_accumulator.mlpackage"));
  State state = model.make_state();
  ASSERT_FALSE(state.empty());
  const Tensor x = half_tensor({1, 2, 3, 4}, {1, 4});
  for (int step = 1; step <= 3; ++step) {
    const Outputs out = model.predict({{"x", x}}, state);
    EXPECT_EQ(as_floats(out.at("new_acc")),
              (std::vector<float>{1.f * step, 2.f * step, 3.f * step, 4.f * step}));
  }
  EXPECT_EQ(as_floats(state.at("acc")), (std::vector<float>{3, 6, 9, 12}));
  state.reset();
  EXPECT_EQ(as_floats(model.predict({{"x", x}}, state).at("new_acc")),
            (std::vector<float>{1, 2, 3, 4}));
}

TEST(Model, CompiledAndPackagedAgree) {
  Model a = Model::load(models("stateful_accumulator.mlpackage"));
  Model b = Model::load(models("stateful_accumulator.mlmodelc"));
  State sa = a.make_state(), sb = b.make_state();
  const Tensor x = half_tensor({0.5f, -1.25f, 3.f, 7.75f}, {1, 4});
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(as_floats(a.predict({{"x", x}}, sa).at("new_acc")),
              as_floats(b.predict({{"x", x}}, sb).at("new_acc")));
  }
}

// prefill and infer declare the same state: one State serves both (as ANEMLL's chunks need).
TEST(Model, FunctionsShareOneState) {
  const std::string path = (kData / "runtime/shared_state.mlpackage").string();
  Model prefill = Model::load(path, {.function = "prefill"});
  Model infer = Model::load(path);  // default function
  EXPECT_EQ(infer.function().name, "infer");
  std::ifstream in(kData / "runtime/shared_state.json");
  const auto spec = nlohmann::json::parse(in);
  State state = prefill.make_state();
  for (const auto& call : spec.at("calls")) {
    std::vector<float> x;
    for (double v : call.at("x")) x.push_back(static_cast<float>(v));
    Model& m = call.at("function") == "prefill" ? prefill : infer;
    const Outputs out = m.predict({{"x", half_tensor(x, {1, 4})}}, state);
    std::vector<float> expected;
    for (double v : call.at("expected")) expected.push_back(static_cast<float>(v));
    EXPECT_EQ(as_floats(out.at("updated")), expected) << call.dump();
  }
}

TEST(Model, InputsAreCheckedAndConverted) {
  Model model = Model::load(models("stateful_accumulator.mlpackage"));
  State state = model.make_state();
  // fp32 is accepted for an fp16 input (converted, as Core ML does).
  const Tensor x32 = Tensor::from_vector<float>({1, 1, 1, 1}, std::vector<int64_t>{1, 4});
  EXPECT_EQ(as_floats(model.predict({{"x", x32}}, state).at("new_acc")),
            (std::vector<float>{1, 1, 1, 1}));
  expect_error([&] { model.predict({}, state); }, "missing input 'x'");
  expect_error([&] { model.predict({{"x", x32}, {"y", x32}}, state); }, "unknown input 'y'");
  expect_error(
      [&] {
        model.predict({{"x", Tensor::zeros({1, 5}, DType::kFloat16)}}, state);
      },
      "input 'x': got shape [1, 5], expected [1, 4]");
  expect_error(
      [&] {
        model.predict({{"x", Tensor::zeros({1, 4}, DType::kInt8)}}, state);
      },
      "input 'x': got int8, expected fp16");
  expect_error([&] { model.predict({{"x", x32.with_device(Device::cuda(0))}}, state); }, "CUDA");
  expect_error([&] { model.predict({{"x", x32}}); }, "make_state()");
}

TEST(Model, OutputsAreTaggedLikeInputs) {
  Model model = Model::load(models("stateful_accumulator.mlpackage"));
  State state = model.make_state();
  const Tensor x = half_tensor({1, 2, 3, 4}, {1, 4}).with_device(Device::metal(0));
  const Outputs out = model.predict({{"x", x}}, state);
  EXPECT_EQ(out.at("new_acc").device(), Device::metal(0));
  EXPECT_GT(model.last_stats().peak_activation_bytes, 0);
}

TEST(Model, StateFromAnotherModelMustMatch) {
  Model acc = Model::load(models("stateful_accumulator.mlpackage"));
  Model shared = Model::load((kData / "runtime/shared_state.mlpackage").string());
  State wrong = acc.make_state();
  expect_error(
      [&] {
        shared.predict({{"x", half_tensor({1, 2, 3, 4}, {1, 4})}}, wrong);
      },
      "the State has no 'cache'");
}

TEST(Model, ForwardTakesInputsInOrder) {
  Model model = Model::load(models("elementwise.mlpackage"));
  const Tensor x =
      Tensor::from_vector<float>({1, -2, 3, -4, 5, -6, 7, -8, 9, -10}, std::vector<int64_t>{1, 10});
  const Tensor y =
      Tensor::from_vector<float>({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, std::vector<int64_t>{1, 10});
  const Tensor by_position = model.forward({&x, &y});
  const Outputs by_name = model.predict({{"x", x}, {"y", y}});
  EXPECT_EQ(by_position.to_vector<float>(), by_name.front().second.to_vector<float>());
  expect_error([&] { model.forward({&x}); }, "takes input 'y'");
}

TEST(Model, LoadErrors) {
  expect_error([] { Model::load(models("multifunction.mlpackage"), {.function = "decode"}); },
               "no function 'decode' (functions: infer, prefill)");
  expect_error([] { Model::load((kData / "compiled/unknown_op.mlmodelc").string()); },
               "does not support: frobnicate, split_twice");
  expect_error([] { Model::load(models("elementwise.mlpackage"), {.backend = Backend::kCoreML}); },
               "Apple");
  // A model whose weight file is gone loads for `info` but not for running.
  const fs::path copy =
      fs::temp_directory_path() / ("coreml_model_test_" + std::to_string(::getpid()));
  fs::remove_all(copy);
  fs::create_directories(copy);
  fs::copy(kData / "models/conv.mlpackage", copy / "conv.mlpackage", fs::copy_options::recursive);
  fs::remove(copy / "conv.mlpackage/Data/com.apple.CoreML/weights/weight.bin");
  expect_error([&] { Model::load((copy / "conv.mlpackage").string()); }, "weight file missing");
  fs::remove_all(copy);
}

}  // namespace
}  // namespace coreml

namespace coreml {
namespace {

// The executor lets reads alias the state and KV-style updates run in place only when no result
// can change: `old` is read before the write and used after it, so it must keep the old value.
TEST(Model, StateAliasingKeepsValuesReadBeforeAWrite) {
  Model model = Model::load((kData / "compiled/state_alias.mlmodelc").string());
  State state = model.make_state();
  const Tensor x = half_tensor({1, 2, 3, 4}, {1, 4});
  // Call 1: state 0 -> rows [x, 2x]; delta = now - 0.
  Outputs out = model.predict({{"x", x}}, state);
  EXPECT_EQ(as_floats(out.at("now")), (std::vector<float>{1, 2, 3, 4, 2, 4, 6, 8}));
  EXPECT_EQ(as_floats(out.at("delta")), (std::vector<float>{1, 2, 3, 4, 2, 4, 6, 8}));
  // Call 2 with 3x: rows [3x, 6x]; delta = new - old.
  const Tensor x3 = half_tensor({3, 6, 9, 12}, {1, 4});
  out = model.predict({{"x", x3}}, state);
  EXPECT_EQ(as_floats(out.at("now")), (std::vector<float>{3, 6, 9, 12, 6, 12, 18, 24}));
  EXPECT_EQ(as_floats(out.at("delta")), (std::vector<float>{2, 4, 6, 8, 4, 8, 12, 16}));
  // Outputs never alias the state: a later prediction must not change them.
  const std::vector<float> kept = as_floats(out.at("now"));
  model.predict({{"x", x}}, state);
  EXPECT_EQ(as_floats(out.at("now")), kept);
}

}  // namespace
}  // namespace coreml
