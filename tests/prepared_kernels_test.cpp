// Every conformance case (tests/data/conformance, tests/data/runtime) through the fast path:
// prepared kernels, fusions and memory plans, run three times (the first run records the plan,
// the next two replay it) — each result must match the case's expected values, as the simple
// reference kernels' results do in op_conformance_test. Also checks that the ops with a
// prepared kernel really used it somewhere, so a silent fallback cannot hide.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "coreml/model.h"
#include "coreml/tensor.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> case_folders() {
  std::vector<fs::path> folders;
  for (const char* sub : {"conformance", "runtime"}) {
    const fs::path root = fs::path(COREML_TEST_DATA_DIR) / sub;
    if (!fs::exists(root)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.path().filename() == "case.json") folders.push_back(entry.path().parent_path());
    }
  }
  std::sort(folders.begin(), folders.end());
  return folders;
}

// Empty when `got` matches `want` within atol + rtol * |want| (NaN and inf must match exactly).
std::string difference(const Tensor& got, const Tensor& want, double atol, double rtol) {
  if (got.shape() != want.shape()) return "shape " + got.to_string(0) + " vs " + want.to_string(0);
  const auto g = got.to(DType::kFloat64).to_vector<double>();
  const auto w = want.to(DType::kFloat64).to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i]) || std::isnan(g[i])) {
      if (std::isnan(w[i]) != std::isnan(g[i])) return "NaN mismatch at " + std::to_string(i);
      continue;
    }
    if (std::isinf(w[i]) || std::isinf(g[i])) {
      if (g[i] != w[i]) return "inf mismatch at " + std::to_string(i);
      continue;
    }
    if (std::abs(g[i] - w[i]) > atol + rtol * std::abs(w[i])) {
      return "element " + std::to_string(i) + ": got " + std::to_string(g[i]) + ", expected " +
             std::to_string(w[i]);
    }
  }
  return {};
}

TEST(PreparedKernels, EveryConformanceCaseRecordedAndReplayed) {
  // The defaults (prepared kernels, fusion, memory plans), whatever the environment says.
  for (const char* var : {"COREML_PREPARED", "COREML_FUSION", "COREML_MEMORY_PLAN"}) unsetenv(var);
  const auto folders = case_folders();
  if (folders.empty()) GTEST_SKIP() << "no conformance cases";
  int cases = 0;
  for (const auto& folder : folders) {
    std::ifstream in(folder / "case.json");
    const auto spec = nlohmann::json::parse(in);
    const std::string name =
        spec.at("op").get<std::string>() + "/" + spec.at("case").get<std::string>();
    SCOPED_TRACE(name);
    try {
      auto model =
          Model::load((folder / "model.mlpackage").string(), {.backend = Backend::kNative});
      Inputs inputs;
      for (const auto& input : spec.at("inputs")) {
        const std::string n = input;
        inputs[n] = load_npy((folder / "inputs" / (n + ".npy")).string());
      }
      for (int run = 0; run < 3; ++run) {
        State state = model.make_state();  // each run from a fresh state: same expected values
        const Outputs outputs =
            state.empty() ? model.predict(inputs) : model.predict(inputs, state);
        for (const auto& output : spec.at("outputs")) {
          const std::string n = output;
          const Tensor want = load_npy((folder / "expected" / (n + ".npy")).string());
          const std::string why = difference(outputs.at(n), want, spec.at("atol"), spec.at("rtol"));
          EXPECT_TRUE(why.empty()) << name << " run " << run << " output " << n << ": " << why;
        }
      }
      ++cases;
    } catch (const Error& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
  std::printf("prepared kernels: %d cases, each recorded and replayed twice\n", cases);
}

}  // namespace
}  // namespace coreml
