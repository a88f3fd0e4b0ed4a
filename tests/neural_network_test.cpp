// NeuralNetwork models (tests/data/neural_network/, made by
// tools/fixtures/make_neural_network_models.py) on the native runtime: per-layer models built
// with coremltools' NeuralNetworkBuilder against NumPy's evaluation of NeuralNetwork.proto's
// formulas (random layers: the distribution's moments), and whole models converted from
// PyTorch (a classifier with image preprocessing, a detector-like and a segmentation-like
// network, an LSTM) against PyTorch's outputs. Hostile
// models must be refused at load with an error naming the layer and the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coreml/model.h"
#include "support/run_command.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;
const fs::path kFolder = fs::path(COREML_TEST_DATA_DIR) / "neural_network";

const nlohmann::json& document() {
  static const nlohmann::json doc = [] {
    std::ifstream in(kFolder / "cases.json");
    return nlohmann::json::parse(in);
  }();
  return doc;
}

std::string path_of(const nlohmann::json& file) {
  return (kFolder / file.get<std::string>()).string();
}

Inputs inputs_of(const nlohmann::json& c) {
  Inputs inputs;
  for (const auto& [name, file] : c.at("inputs").items()) inputs[name] = load_npy(path_of(file));
  return inputs;
}

void expect_close(const Tensor& got, const Tensor& expected, double tolerance,
                  const std::string& what) {
  ASSERT_EQ(got.shape(), expected.shape()) << what;
  const auto g = got.to(DType::kFloat32).to_vector<float>();
  const auto e = expected.to(DType::kFloat32).to_vector<float>();
  double scale = 1;
  for (float v : e) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  size_t bad = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    if (!(std::fabs(static_cast<double>(g[i]) - e[i]) <= tolerance * scale)) {
      if (++bad <= 3)
        ADD_FAILURE() << what << "[" << i << "]: got " << g[i] << ", expected " << e[i];
    }
  }
  EXPECT_EQ(bad, 0u) << what;
}

class NeuralNetworkCase : public testing::TestWithParam<std::string> {};

TEST_P(NeuralNetworkCase, MatchesReference) {
  const auto& c = document().at("cases").at(GetParam());
  Model model = Model::load(path_of(c.at("model")));
  const Outputs out = model.predict(inputs_of(c));
  const double tolerance = c.at("tolerance").get<double>();
  for (const auto& [name, file] : c.at("outputs").items()) {
    expect_close(out.at(name), load_npy(path_of(file)), tolerance, GetParam() + "." + name);
  }
  // Random layers: the distribution's mean and standard deviation (within a wide bound), the
  // value range, and the same values again from the same seed.
  if (c.contains("statistics")) {
    const Outputs again = model.predict(inputs_of(c));
    for (const auto& [name, want] : c.at("statistics").items()) {
      const Tensor& got = out.at(name);
      ASSERT_EQ(got.shape(), want.at("shape").get<std::vector<int64_t>>()) << name;
      const auto v = got.to(DType::kFloat32).to_vector<float>();
      double sum = 0, squares = 0;
      for (float x : v) {
        EXPECT_GE(x, want.at("min").get<double>()) << name;
        EXPECT_LE(x, want.at("max").get<double>()) << name;
        if (want.contains("integral")) {
          EXPECT_TRUE(x == 0.0f || x == 1.0f) << name << ": " << x;
        }
        sum += x;
        squares += static_cast<double>(x) * x;
      }
      const double n = static_cast<double>(v.size());
      const double mean = sum / n;
      const double bound = want.at("tolerance").get<double>();
      EXPECT_NEAR(mean, want.at("mean").get<double>(), bound) << name;
      EXPECT_NEAR(std::sqrt(squares / n - mean * mean), want.at("std").get<double>(), bound)
          << name;
      EXPECT_EQ(again.at(name).to(DType::kFloat32).to_vector<float>(), v) << name << ": seeded";
    }
  }
  if (c.contains("classification")) {
    const auto& expected = c.at("classification");
    ASSERT_NE(out.classification(), nullptr);
    const Classification& got = *out.classification();
    EXPECT_EQ(got.classes, expected.at("classes").get<std::vector<std::string>>());
    EXPECT_EQ(got.label(), expected.at("label").get<std::string>());
    EXPECT_EQ(got.label_output, expected.at("label_output").get<std::string>());
    EXPECT_EQ(got.probabilities_output, expected.at("probabilities_output").get<std::string>());
    const auto probs = expected.at("probabilities").get<std::vector<double>>();
    ASSERT_EQ(got.probabilities.size(), probs.size());
    for (size_t i = 0; i < probs.size(); ++i) EXPECT_NEAR(got.probabilities[i], probs[i], 1e-5);
  }
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& [name, c] : document().at("cases").items()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Models, NeuralNetworkCase, testing::ValuesIn(case_names()),
                         [](const auto& param_info) { return param_info.param; });

class NeuralNetworkHostile : public testing::TestWithParam<std::string> {};

TEST_P(NeuralNetworkHostile, IsRefusedAtLoadNamingLayerAndField) {
  const std::string fragment = document().at("errors").at(GetParam()).get<std::string>();
  try {
    (void)Model::load((kFolder / GetParam()).string());
    ADD_FAILURE() << "loaded; expected an error mentioning: " << fragment;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
    EXPECT_NE(message.find(GetParam()), std::string::npos) << "names the file: " << message;
  }
}

std::vector<std::string> hostile_names() {
  std::vector<std::string> names;
  for (const auto& [name, fragment] : document().at("errors").items()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Models, NeuralNetworkHostile, testing::ValuesIn(hostile_names()),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           std::replace(n.begin(), n.end(), '.', '_');
                           return n;
                         });

// Models that load but must refuse to run (a random layer of 2^31 values): a clear error
// instead of an allocation beyond the tensor budget.
TEST(NeuralNetworkHostileRun, IsRefusedAtPrediction) {
  for (const auto& [file, fragment] : document().at("run_errors").items()) {
    Model model = Model::load((kFolder / file).string());
    Inputs inputs;
    inputs["x"] = load_npy((kFolder / "branch.in.yes.npy").string());  // any [1] tensor
    try {
      (void)model.predict(inputs);
      ADD_FAILURE() << file << ": ran; expected an error mentioning " << fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment.get<std::string>()), std::string::npos)
          << e.what();
    }
  }
}

// `coreml info` names the model type; `coreml run` writes each output and, for the
// classifier, prints the label and every class's probability.
TEST(NeuralNetworkCli, InfoAndRun) {
  const auto info = test::run_cli({"info", (kFolder / "detector.mlmodel").string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out).at("model_type"), "neuralNetwork");

  const auto& c = document().at("cases").at("classifier");
  const fs::path dir = fs::temp_directory_path() / ("coreml_nn_cli_" + std::to_string(::getpid()));
  const auto run = test::run_cli({"run", path_of(c.at("model")), "--input",
                                  "image=" + path_of(c.at("inputs").at("image")), "--json",
                                  "--output-dir", dir.string()});
  fs::remove_all(dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto j = nlohmann::json::parse(run.out);
  const auto& expected = c.at("classification");
  EXPECT_EQ(j.at("classification").at("label"), expected.at("label"));
  const auto classes = expected.at("classes").get<std::vector<std::string>>();
  const auto probs = expected.at("probabilities").get<std::vector<double>>();
  for (size_t i = 0; i < classes.size(); ++i) {
    EXPECT_NEAR(j.at("classification").at("probabilities").at(classes[i]).get<double>(), probs[i],
                1e-5);
  }
}

// A picture in, the label and probabilities out, through a pipelineClassifier wrapping the
// NeuralNetwork classifier (tools/fixtures/make_pipeline_image_fixture.py; the PNG holds the
// classifier's input tensor): `coreml run` decodes the PNG, the pipeline runs the NN as a
// stage, and the result must be PyTorch's (cases.json).
TEST(NeuralNetworkCli, PipelineClassifierTakesAPicture) {
  const auto& c = document().at("cases").at("classifier");
  const auto run =
      test::run_cli({"run", (kFolder / "classifier_pipeline.mlmodel").string(), "--input",
                     "image=" + (kFolder / "classifier.in.image.png").string(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto values = nlohmann::json::parse(run.out).at("values");
  const auto& expected = c.at("classification");
  EXPECT_EQ(values.at(expected.at("label_output").get<std::string>()), expected.at("label"));
  const auto& probabilities = values.at(expected.at("probabilities_output").get<std::string>());
  const auto classes = expected.at("classes").get<std::vector<std::string>>();
  const auto probs = expected.at("probabilities").get<std::vector<double>>();
  ASSERT_EQ(probabilities.size(), classes.size());
  for (size_t i = 0; i < classes.size(); ++i) {
    EXPECT_NEAR(probabilities.at(classes[i]).get<double>(), probs[i], 1e-5) << classes[i];
  }
}

}  // namespace
}  // namespace coreml
