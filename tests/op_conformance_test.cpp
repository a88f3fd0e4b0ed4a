// Op conformance: every case under tests/data/conformance/<op>/<case>/ (written by
// tools/fixtures/conformance/*.py from coremltools' value inference or NumPy), and every whole
// model under tests/data/runtime/<model>/ (converted from PyTorch by
// tools/fixtures/make_torch_models.py, PyTorch's outputs as reference), runs through the native
// runtime; outputs must match within the case's tolerance. Each case folder is its own test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coreml/model.h"
#include "coreml/tensor.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

struct CaseFolder {
  fs::path folder;
  std::string test_name;  // "<op>__<case>" (GoogleTest allows [A-Za-z0-9_])
};

// Failure messages name the case folder, not the struct's bytes.
void PrintTo(const CaseFolder& c, std::ostream* os) { *os << c.folder.string(); }

std::string sanitize(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

// Case folders under tests/data/<sub>/ (each has a case.json naming its op and case).
std::vector<CaseFolder> case_folders(const char* sub) {
  std::vector<CaseFolder> cases;
  const fs::path root = fs::path(COREML_TEST_DATA_DIR) / sub;
  if (!fs::exists(root)) return cases;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename() != "case.json") continue;
    std::ifstream in(entry.path());
    const auto spec = nlohmann::json::parse(in);
    cases.push_back({entry.path().parent_path(), sanitize(spec.at("op").get<std::string>()) + "__" +
                                                     sanitize(spec.at("case").get<std::string>())});
  }
  std::sort(cases.begin(), cases.end(),
            [](const CaseFolder& a, const CaseFolder& b) { return a.test_name < b.test_name; });
  return cases;
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

// Runs one case folder; every mismatch is reported with the case and output name.
void run_case(const fs::path& folder) {
  std::ifstream in(folder / "case.json");
  const auto spec = nlohmann::json::parse(in);
  const std::string name =
      spec.at("op").get<std::string>() + "/" + spec.at("case").get<std::string>();
  auto model = Model::load((folder / "model.mlpackage").string(), {.backend = Backend::kNative});
  Inputs inputs;
  for (const auto& input : spec.at("inputs")) {
    const std::string n = input;
    inputs[n] = load_npy((folder / "inputs" / (n + ".npy")).string());
  }
  State state = model.make_state();
  const Outputs outputs = state.empty() ? model.predict(inputs) : model.predict(inputs, state);
  for (const auto& output : spec.at("outputs")) {
    const std::string n = output;
    const Tensor want = load_npy((folder / "expected" / (n + ".npy")).string());
    double excess = 0;
    std::string why;
    const double err =
        compare(outputs.at(n), want, spec.at("atol"), spec.at("rtol"), &excess, &why);
    EXPECT_TRUE(std::isfinite(err) && excess <= 0) << name << " output " << n << ": " << why;
  }
}

class Conformance : public ::testing::TestWithParam<CaseFolder> {};

TEST_P(Conformance, Case) {
  try {
    run_case(GetParam().folder);
  } catch (const Error& e) {
    FAIL() << GetParam().folder.string() << ": " << e.what();
  }
}

std::string case_name(const ::testing::TestParamInfo<CaseFolder>& info) {
  return info.param.test_name;
}

// One test per op case (tests/data/conformance/<op>/<case>/), filterable by op name:
// --gtest_filter='Ops/Conformance.Case/concat__*'.
INSTANTIATE_TEST_SUITE_P(Ops, Conformance, ::testing::ValuesIn(case_folders("conformance")),
                         case_name);
// Whole models converted from PyTorch (tests/data/runtime/<model>/).
INSTANTIATE_TEST_SUITE_P(Models, Conformance, ::testing::ValuesIn(case_folders("runtime")),
                         case_name);

TEST(OpConformance, CasesArePresent) {
  EXPECT_GT(case_folders("conformance").size(), 700u) << "conformance cases missing";
}

}  // namespace
}  // namespace coreml
