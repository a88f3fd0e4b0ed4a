// `coreml run` and `coreml info` on pipelines and classic models: number, text and dictionary
// inputs on the command line, labels, strings and dictionaries written and printed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coreml/tensor.h"
#include "proto/coreml.pb.h"
#include "support/run_command.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() /
         ("coreml_classic_cli_" + std::to_string(::getpid()) + "_" + name);
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// y = 2 a - 3 b + 0.5 over two double inputs.
fs::path write_linear_model() {
  spec::Model m;
  m.set_specification_version(1);
  for (const char* name : {"a", "b"}) {
    auto* in = m.mutable_description()->add_input();
    in->set_name(name);
    in->mutable_type()->mutable_double_type();
  }
  auto* out = m.mutable_description()->add_output();
  out->set_name("y");
  out->mutable_type()->mutable_double_type();
  auto* row = m.mutable_glm_regressor()->add_weights();
  row->add_value(2.0);
  row->add_value(-3.0);
  m.mutable_glm_regressor()->add_offset(0.5);
  const fs::path path = scratch("linear.mlmodel");
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
  return path;
}

// A string -> int64 table with -1 for unknown keys.
fs::path write_mapping_model() {
  spec::Model m;
  m.set_specification_version(1);
  auto* in = m.mutable_description()->add_input();
  in->set_name("colour");
  in->mutable_type()->mutable_string_type();
  auto* out = m.mutable_description()->add_output();
  out->set_name("code");
  out->mutable_type()->mutable_int64_type();
  auto* map = m.mutable_categorical_mapping()->mutable_string_to_int64_map();
  int64_t code = 10;
  for (const char* key : {"red", "green", "light blue"}) {
    auto* e = map->add_map();
    e->set_key(key);
    e->set_value(code++);
  }
  m.mutable_categorical_mapping()->set_int64_value(-1);
  const fs::path path = scratch("mapping.mlmodel");
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
  return path;
}

TEST(ClassicCli, NumbersOnTheCommandLine) {
  const fs::path model = write_linear_model();
  const fs::path dir = scratch("linear_out");
  const auto r = test::run_cli({"run", model.string(), "--input", "a=3.5", "--input", "b=-1",
                                "--output-dir", dir.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(r.out).at("values").at("y").get<double>(), 10.5);
  EXPECT_DOUBLE_EQ(read_json(dir / "y.json").get<double>(), 10.5);
  const auto bad = test::run_cli({"run", model.string(), "--input", "a=three", "--input", "b=1"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("a=three: expected a number"), std::string::npos) << bad.err;
  fs::remove_all(dir);
  fs::remove(model);
}

TEST(ClassicCli, TextOnTheCommandLine) {
  const fs::path model = write_mapping_model();
  auto r = test::run_cli({"run", model.string(), "--input", "colour=light blue"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("code  int64 = 12"), std::string::npos) << r.out;
  r = test::run_cli({"run", model.string(), "--input", "colour=mauve", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("values").at("code").get<int64_t>(), -1);
  fs::remove(model);
}

// The scikit-learn DictVectorizer pipeline (tests/data/classic) with a dictionary from a JSON
// file, and the classifier pipeline's label and probabilities written as JSON.
TEST(ClassicCli, DictionaryInputAndClassifierOutputs) {
  const auto expected = read_json(fs::path(COREML_TEST_DATA_DIR) / "classic" / "expected.json");
  const auto& dv = expected.at("dict_vectorizer_regression");
  const fs::path dict = scratch("dict.json");
  std::ofstream(dict) << dv.at("inputs").at(0).at("features").dump();
  auto r = test::run_cli({"run", test::data_path("classic/dict_vectorizer_regression.mlmodel"),
                          "--input", "features=@" + dict.string(), "--json"});
  fs::remove(dict);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out).at("values").at("y").get<double>(),
              dv.at("outputs").at(0).at("value").get<double>(), 1e-9);

  const auto& lr = expected.at("pipeline_logistic");
  const fs::path dir = scratch("pipeline_out");
  // Row 1 has no missing value (every third row has one): the .npy holds plain numbers.
  const auto& row = lr.at("inputs").at(1).at("input");
  const fs::path x = scratch("x.npy");
  {
    std::vector<double> values = row.get<std::vector<double>>();
    save_npy(x.string(), Tensor::from_vector(values));
  }
  r = test::run_cli({"run", test::data_path("classic/pipeline_logistic.mlmodel"), "--input",
                     "input=" + x.string(), "--output-dir", dir.string()});
  fs::remove(x);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto& want = lr.at("outputs").at(1);
  EXPECT_EQ(read_json(dir / "label.json"), want.at("label"));
  const auto probabilities = read_json(dir / "classProbability.json");
  for (const auto& [label, p] : want.at("probabilities").items()) {
    EXPECT_NEAR(probabilities.at(label).get<double>(), p.get<double>(), 1e-9);
  }
  EXPECT_NE(r.out.find("label = " + want.at("label").get<std::string>()), std::string::npos);
  fs::remove_all(dir);
}

TEST(ClassicCli, InfoDescribesPipelinesAndClassifiers) {
  const auto r =
      test::run_cli({"info", test::data_path("classic/pipeline_logistic.mlmodel"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("model_type"), "pipelineClassifier");
  EXPECT_EQ(j.at("classifier").at("labels"), nlohmann::json({"a", "b", "c"}));
  std::vector<std::string> stages;
  for (const auto& s : j.at("pipeline")) stages.push_back(s.at("model_type"));
  EXPECT_EQ(stages, (std::vector<std::string>{"imputer", "scaler", "glmClassifier"}));
  EXPECT_EQ(j.at("functions").at(0).at("outputs").at(1).at("kind"), "dictionary");
  EXPECT_EQ(j.at("functions").at(0).at("outputs").at(1).at("key_type"), "string");
  EXPECT_EQ(j.at("backends").at(0).at("can_run"), true);
}

}  // namespace
}  // namespace coreml
