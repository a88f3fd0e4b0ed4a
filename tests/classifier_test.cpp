// Classifiers (programs ending in coremltools' classify op, tests/data/classifier/ made by
// tools/fixtures/make_classifier_models.py): the predicted label and every class's probability,
// as Core ML returns them, against NumPy's softmax.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coreml/model.h"
#include "support/run_command.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

struct Case {
  Model model;
  nlohmann::json expected;
};

Case load(const std::string& name) {
  const fs::path folder = fs::path(COREML_TEST_DATA_DIR) / "classifier" / name;
  std::ifstream in(folder / "expected.json");
  return {Model::load((folder / "model.mlpackage").string()), nlohmann::json::parse(in)};
}

Tensor input_of(const nlohmann::json& expected) {
  return Tensor::from_vector(expected.at("input").get<std::vector<float>>(),
                             std::vector<int64_t>{1, 3});
}

void expect_classification(const Classification& c, const nlohmann::json& expected) {
  EXPECT_EQ(c.classes, expected.at("classes").get<std::vector<std::string>>());
  const auto probs = expected.at("probabilities").get<std::vector<double>>();
  ASSERT_EQ(c.probabilities.size(), probs.size());
  for (size_t i = 0; i < probs.size(); ++i) EXPECT_NEAR(c.probabilities[i], probs[i], 1e-6);
  EXPECT_EQ(c.label(), expected.at("label").get<std::string>());
}

TEST(Classifier, StringLabels) {
  Case k = load("strings");
  const Outputs out = k.model.predict({{"x", input_of(k.expected)}});
  ASSERT_NE(out.classification(), nullptr);
  expect_classification(*out.classification(), k.expected);
  EXPECT_FALSE(out.classification()->integer_classes);
  EXPECT_EQ(out.classification()->label_output, "classLabel");
  EXPECT_EQ(out.classification()->probabilities_output, "classLabel_probs");
  // The string label is not a tensor; asking for one says where to look.
  try {
    (void)out.at("classLabel");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("classification()"), std::string::npos) << e.what();
  }
}

// `coreml run --json` reports the label and the probabilities.
TEST(Classifier, RunCommandReportsTheClassification) {
  const fs::path folder = fs::path(COREML_TEST_DATA_DIR) / "classifier" / "strings";
  std::ifstream in(folder / "expected.json");
  const auto expected = nlohmann::json::parse(in);
  const fs::path x =
      fs::temp_directory_path() / ("coreml_classifier_x_" + std::to_string(::getpid()) + ".npy");
  save_npy(x.string(), input_of(expected));
  const auto r = test::run_cli(
      {"run", (folder / "model.mlpackage").string(), "--input", "x=" + x.string(), "--json"});
  fs::remove(x);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("classification").at("label"), expected.at("label"));
  const auto classes = expected.at("classes").get<std::vector<std::string>>();
  const auto probs = expected.at("probabilities").get<std::vector<double>>();
  for (size_t i = 0; i < classes.size(); ++i) {
    EXPECT_NEAR(j.at("classification").at("probabilities").at(classes[i]).get<double>(), probs[i],
                1e-6);
  }
}

}  // namespace
}  // namespace coreml
