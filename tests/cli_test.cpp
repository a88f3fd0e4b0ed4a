// The CLI's conventions: --help, exit codes 0/1/2, one-line errors.
#include <gtest/gtest.h>

#include "support/run_command.h"

namespace coreml::test {
namespace {

int line_count(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}

TEST(Cli, HelpExitsZero) {
  const auto r = run_cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("info"), std::string::npos) << r.out;
}

TEST(Cli, CommandHelpExitsZero) {
  const auto r = run_cli({"info", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--json"), std::string::npos) << r.out;
}

TEST(Cli, NoCommandIsUsageError) {
  const auto r = run_cli({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.err.empty());
}

TEST(Cli, UnknownCommandIsUsageError) {
  const auto r = run_cli({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, MissingArgumentIsUsageError) {
  const auto r = run_cli({"info"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("path"), std::string::npos) << r.err;
}

TEST(Cli, UnknownFlagIsUsageError) {
  const auto r = run_cli({"info", "x.mlpackage", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, MissingModelIsOneLineError) {
  const auto r = run_cli({"info", "/nonexistent/model.mlpackage"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/model.mlpackage"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, VerboseAddsDetail) {
  const auto r = run_cli({"--verbose", "info", "/nonexistent/model.mlpackage"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_GT(line_count(r.err), 1) << r.err;
}

TEST(Cli, FolderThatIsNotAModel) {
  const auto r = run_cli({"info", COREML_TEST_DATA_DIR});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a Core ML model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coreml::test

#include <filesystem>
#include <set>
#include <nlohmann/json.hpp>

#include "coreml/model.h"

namespace coreml::test {
namespace {

namespace fs = std::filesystem;

struct RunFixture : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("coreml_cli_run_" + std::to_string(::getpid()));
  std::string model = data_path("models/elementwise.mlpackage");
  void SetUp() override {
    fs::remove_all(dir);
    fs::create_directories(dir);
    save_npy((dir / "x.npy").string(),
             Tensor::from_vector<float>({1, -2, 3, -4, 5, -6, 7, -8, 9, -10}, std::vector<int64_t>{1, 10}));
    save_npy((dir / "y.npy").string(), Tensor::full({1, 10}, 0.5, DType::kFloat32));
    save_npy((dir / "y_bad.npy").string(), Tensor::full({1, 9}, 0.5, DType::kFloat32));
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string in(const std::string& name, const std::string& file) {
    return name + "=" + (dir / file).string();
  }
};

TEST_F(RunFixture, WritesEveryOutputAsNpy) {
  const auto r = run_cli({"run", model, "--input", in("x", "x.npy"), "--input", in("y", "y.npy"),
                          "--output-dir", (dir / "out").string(), "--steps", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 predictions"), std::string::npos) << r.out;
  // The file holds exactly what the library returns for the same inputs.
  Model m = Model::load(model);
  const Outputs want = m.predict({{"x", load_npy((dir / "x.npy").string())},
                                  {"y", load_npy((dir / "y.npy").string())}});
  for (const auto& [name, tensor] : want) {
    const Tensor got = load_npy((dir / "out" / (name + ".npy")).string());
    EXPECT_EQ(got.shape(), tensor.shape());
    EXPECT_EQ(got.to_vector<float>(), tensor.to_vector<float>());
  }
}

TEST_F(RunFixture, JsonReport) {
  const auto r = run_cli({"run", model, "--input", in("x", "x.npy"), "--input", in("y", "y.npy"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"median_ms\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"peak_activation_bytes\""), std::string::npos) << r.out;
}

TEST_F(RunFixture, WarmupAndProfileCountOnlyTheTimedSteps) {
  const auto r = run_cli({"run", model, "--input", in("x", "x.npy"), "--input", in("y", "y.npy"),
                          "--warmup", "2", "--steps", "3", "--profile", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["steps"], 3);
  EXPECT_GT(j["peak_rss_bytes"].get<int64_t>(), 0);
  // The fastest of the timed steps is at most their median and mean.
  EXPECT_GT(j["min_ms"].get<double>(), 0.0);
  EXPECT_LE(j["min_ms"].get<double>(), j["median_ms"].get<double>());
  EXPECT_LE(j["min_ms"].get<double>(), j["mean_ms"].get<double>());
  ASSERT_TRUE(j["profile"].is_array());
  ASSERT_FALSE(j["profile"].empty());
  // Every op of the program ran once per timed step (the warm-up steps are not profiled).
  int64_t ops_per_step = 0;
  for (const auto& op : j["profile"]) {
    EXPECT_EQ(op["calls"].get<int64_t>() % 3, 0) << op;
    ops_per_step += op["calls"].get<int64_t>() / 3;
  }
  EXPECT_GT(ops_per_step, 0);
  EXPECT_NE(run_cli({"run", model, "--warmup", "-1"}).exit_code, 0);
}

// --profile-ops: every op of the program once per timed step, named by its first output (the
// model's outputs among them), in the same total as the per-type profile of the same steps.
TEST_F(RunFixture, ProfileOpsListsEveryOpInProgramOrder) {
  const auto r = run_cli({"run", model, "--input", in("x", "x.npy"), "--input", in("y", "y.npy"),
                          "--warmup", "1", "--steps", "3", "--profile", "--profile-ops", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j["profile_ops"].is_array());
  ASSERT_FALSE(j["profile_ops"].empty());
  std::set<std::string> names;
  double by_op = 0, by_type = 0;
  int64_t op_count = 0;
  for (const auto& op : j["profile_ops"]) {
    EXPECT_EQ(op["calls"].get<int64_t>(), 3) << op;
    EXPECT_FALSE(op["name"].get<std::string>().empty()) << op;
    EXPECT_TRUE(names.insert(op["name"].get<std::string>()).second) << "named twice: " << op;
    by_op += op["ms_per_step"].get<double>();
    ++op_count;
  }
  int64_t type_calls = 0;
  for (const auto& t : j["profile"]) {
    by_type += t["ms_per_step"].get<double>();
    type_calls += t["calls"].get<int64_t>();
  }
  EXPECT_EQ(type_calls, 3 * op_count);
  EXPECT_NEAR(by_op, by_type, 1e-9 * (1 + by_type));
  const Model m = Model::load(model);
  for (const auto& out : m.function().outputs) EXPECT_EQ(names.count(out.name), 1u) << out.name;
  // The text report lists them too.
  const auto text = run_cli({"run", model, "--input", in("x", "x.npy"), "--input", in("y", "y.npy"),
                             "--profile-ops"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("op by op"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(m.function().outputs.at(0).name), std::string::npos) << text.out;
}

TEST_F(RunFixture, InputErrorsNameTheInput) {
  auto r = run_cli({"run", model, "--input", in("x", "x.npy")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing input 'y'"), std::string::npos) << r.err;
  r = run_cli({"run", model, "--input", in("x", "x.npy"), "--input", in("y", "y.npy"), "--input", in("z", "y.npy")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown input 'z'"), std::string::npos) << r.err;
  r = run_cli({"run", model, "--input", in("x", "x.npy"), "--input", in("y", "y_bad.npy")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("input 'y': got shape [1, 9], expected [1, 10]"), std::string::npos) << r.err;
  r = run_cli({"run", model, "--input", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("expected NAME=FILE.npy"), std::string::npos) << r.err;
  r = run_cli({"run", model, "--steps", "0"});
  EXPECT_EQ(r.exit_code, 2);
}

// --backend and --compute-units on every command that runs a model; this Linux build has no
// Core ML backend, which must be an error that says so.
TEST_F(RunFixture, BackendFlags) {
  const std::vector<std::string> inputs = {"--input", in("x", "x.npy"), "--input", in("y", "y.npy")};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"run", model});
    args.insert(args.end(), inputs.begin(), inputs.end());
    return run_cli(args);
  };
  auto r = with({"--backend", "native", "--compute-units", "cpu-ne", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"backend\": \"native\""), std::string::npos) << r.out;
  r = with({"--backend", "coreml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the Core ML backend is not in this build"), std::string::npos) << r.err;
  r = with({"--backend", "metal"});
  EXPECT_EQ(r.exit_code, 2);
  r = with({"--compute-units", "npu"});
  EXPECT_EQ(r.exit_code, 2);
  for (const char* command : {"generate", "chat", "bench"}) {
    r = run_cli({command, "--help"});
    EXPECT_NE(r.out.find("--backend"), std::string::npos) << command;
    EXPECT_NE(r.out.find("--compute-units"), std::string::npos) << command;
  }
  r = run_cli({"generate", "--model", data_path("anemll/tiny-qwen3"), "--prompt", "hi",
               "--backend", "coreml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the Core ML backend is not in this build"), std::string::npos) << r.err;
}

TEST(Cli, InfoListsBackends) {
  const std::string model = data_path("models/elementwise.mlpackage");
  auto r = run_cli({"info", model});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("native: can run this model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("coreml: not in this build"), std::string::npos) << r.out;
  r = run_cli({"info", model, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("backends").size(), 2u);
  EXPECT_EQ(j["backends"][0]["name"], "native");
  EXPECT_EQ(j["backends"][0]["can_run"], true);
  EXPECT_EQ(j["backends"][1]["name"], "coreml");
  EXPECT_EQ(j["backends"][1]["can_run"], false);
  // A model with ops the native runtime lacks: native cannot run it, and says which.
  r = run_cli({"info", data_path("compiled/unknown_op.mlmodelc")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("native: function 'main' uses unsupported ops: frobnicate"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace coreml::test
