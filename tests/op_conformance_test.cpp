// Op conformance: every case under tests/data/conformance/<op>/<case>/ (written by
// tools/fixtures/conformance/*.py from coremltools' value inference or NumPy), and every whole
// model under tests/data/runtime/<model>/ (converted from PyTorch by
// tools/fixtures/make_torch_models.py, PyTorch's outputs as reference), runs through the native
// runtime; outputs must match within the case's tolerance. Prints a table per op / model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "coreml/model.h"
#include "coreml/tensor.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

struct OpTally {
  int cases = 0;
  int passed = 0;
  double max_error = 0;
};

std::vector<fs::path> case_folders() {
  std::vector<fs::path> folders;
  // Op cases, and whole models converted from PyTorch (tests/data/runtime/<model>/case.json).
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

// Largest |got - want| over elements, or infinity on a shape/NaN mismatch. `excess` > 0 when
// some element is outside atol + rtol * |want|.
double compare(const Tensor& got, const Tensor& want, double atol, double rtol, double* excess,
               std::string* why) {
  *excess = 0;
  if (got.shape() != want.shape()) {
    *why = "shape " + got.to_string(0) + " vs expected " + want.to_string(0);
    return INFINITY;
  }
  const auto g = got.to(DType::kFloat64).to_vector<double>();
  const auto w = want.to(DType::kFloat64).to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i]) || std::isnan(g[i])) {
      if (std::isnan(w[i]) != std::isnan(g[i])) {
        *why = "NaN mismatch at element " + std::to_string(i);
        return INFINITY;
      }
      continue;
    }
    if (std::isinf(w[i]) || std::isinf(g[i])) {
      if (g[i] != w[i]) {
        *why = "inf mismatch at element " + std::to_string(i);
        return INFINITY;
      }
      continue;
    }
    const double err = std::abs(g[i] - w[i]);
    worst = std::max(worst, err);
    const double over = err - (atol + rtol * std::abs(w[i]));
    if (over > *excess) {
      *excess = over;
      *why = "element " + std::to_string(i) + ": got " + std::to_string(g[i]) + ", expected " +
             std::to_string(w[i]);
    }
  }
  return worst;
}

TEST(OpConformance, EveryCase) {
  const auto folders = case_folders();
  if (folders.empty()) GTEST_SKIP() << "no conformance cases under tests/data/conformance";
  std::map<std::string, OpTally> tally;
  for (const auto& folder : folders) {
    std::ifstream in(folder / "case.json");
    const auto spec = nlohmann::json::parse(in);
    const std::string op = spec.at("op");
    const std::string name = op + "/" + spec.at("case").get<std::string>();
    OpTally& t = tally[op];
    ++t.cases;
    try {
      auto model = Model::load((folder / "model.mlpackage").string(), {.backend = Backend::kNative});
      Inputs inputs;
      for (const auto& input : spec.at("inputs")) {
        const std::string n = input;
        inputs[n] = load_npy((folder / "inputs" / (n + ".npy")).string());
      }
      State state = model.make_state();
      const Outputs outputs = state.empty() ? model.predict(inputs) : model.predict(inputs, state);
      bool ok = true;
      for (const auto& output : spec.at("outputs")) {
        const std::string n = output;
        const Tensor want = load_npy((folder / "expected" / (n + ".npy")).string());
        double excess = 0;
        std::string why;
        const double err = compare(outputs.at(n), want, spec.at("atol"), spec.at("rtol"), &excess, &why);
        if (std::isfinite(err)) t.max_error = std::max(t.max_error, err);
        if (!std::isfinite(err) || excess > 0) {
          ok = false;
          ADD_FAILURE() << name << " output " << n << ": " << why;
        }
      }
      t.passed += ok;
    } catch (const Error& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
  std::printf("\n%-34s %6s %7s %12s\n", "op", "cases", "passed", "max error");
  int cases = 0, passed = 0;
  for (const auto& [op, t] : tally) {
    std::printf("%-34s %6d %7d %12.3g\n", op.c_str(), t.cases, t.passed, t.max_error);
    cases += t.cases;
    passed += t.passed;
  }
  std::printf("%-34s %6d %7d\n\n", "total", cases, passed);
}

}  // namespace
}  // namespace coreml
