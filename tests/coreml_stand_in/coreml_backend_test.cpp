// The Core ML backend (src/backends/coreml_apple/coreml_backend.mm), built on Linux against the
// CoreML.framework stand-in of this folder, against the native backend and the independent
// references: one conformance case of every op (expected values from coremltools / NumPy, see
// op_conformance_test.cpp) and the tiny ANEMLL models (goldens from the NumPy network of
// tools/fixtures/anemll_reference.py), plus what Core ML does differently: padded output rows,
// MLState, missing functionName / MLState on older systems, NSError, the compiled-model cache.
#include "backends/coreml_apple/coreml_backend.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "coreml/llm/model.h"
#include "coreml/model.h"
#include "llm/sampler.h"
#include "stand_in_control.h"

namespace coreml {
namespace {

namespace fs = std::filesystem;

const fs::path kData = COREML_TEST_DATA_DIR;

// Installs the backend once, and points its compiled-model cache at a temporary folder.
class Environment : public ::testing::Environment {
 public:
  void SetUp() override {
    cache_ = fs::temp_directory_path() / ("coreml_backend_test_" + std::to_string(getpid()));
    fs::create_directories(cache_);
    setenv("COREML_COMPILED_CACHE", cache_.c_str(), 1);
    backends::install_coreml_backend(backends::make_coreml_backend());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(cache_, ec);
  }

 private:
  fs::path cache_;
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new Environment);

// Restores the stand-in's defaults after a test that changes them.
struct StandInDefaults {
  ~StandInDefaults() {
    coreml_stand_in::set_system_version(15);
    coreml_stand_in::set_row_padding_bytes(64);
  }
};

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

Inputs case_inputs(const fs::path& folder, const nlohmann::json& spec) {
  Inputs inputs;
  for (const auto& input : spec.at("inputs")) {
    const std::string n = input;
    inputs[n] = load_npy((folder / "inputs" / (n + ".npy")).string());
  }
  return inputs;
}

Outputs run(Model& model, const Inputs& inputs) {
  State state = model.make_state();
  return state.empty() ? model.predict(inputs) : model.predict(inputs, state);
}

bool within(const Tensor& got, const Tensor& want, double atol, double rtol, std::string* why) {
  if (got.shape() != want.shape()) {
    *why = "shape " + got.to_string(0) + " vs " + want.to_string(0);
    return false;
  }
  const auto g = got.to(DType::kFloat64).to_vector<double>();
  const auto w = want.to(DType::kFloat64).to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i]) && std::isnan(g[i])) continue;
    if (std::isinf(w[i]) && g[i] == w[i]) continue;
    if (!(std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]))) {
      *why = "element " + std::to_string(i) + ": " + std::to_string(g[i]) + " vs " +
             std::to_string(w[i]);
      return false;
    }
  }
  return true;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data(), cb.data(), ca.nbytes()) == 0;
}

// The first case (by name) of every op.
std::vector<fs::path> one_case_per_op() {
  std::vector<fs::path> cases;
  for (const auto& op : fs::directory_iterator(kData / "conformance")) {
    std::vector<fs::path> folders;
    for (const auto& c : fs::directory_iterator(op.path())) {
      if (fs::exists(c.path() / "case.json")) folders.push_back(c.path());
    }
    if (!folders.empty()) cases.push_back(*std::min_element(folders.begin(), folders.end()));
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

TEST(CoreMLBackend, IsInstalledAndChosenByAuto) {
  EXPECT_TRUE(backend_available(Backend::kCoreML));
  auto model = Model::load((kData / "models/elementwise.mlpackage").string());
  EXPECT_EQ(model.backend(), Backend::kCoreML);
  auto native =
      Model::load((kData / "models/elementwise.mlpackage").string(), {.backend = Backend::kNative});
  EXPECT_EQ(native.backend(), Backend::kNative);
}

// Every op's first conformance case: the Core ML backend's outputs match the expected values
// within the case's tolerance and the native backend's outputs bit for bit. Cases whose inputs
// Core ML's multi-arrays cannot carry (bool, int8, ...) must fail with a clear Error.
TEST(CoreMLBackend, ConformanceCasesMatchExpectedAndNative) {
  int ran = 0, refused = 0;
  for (const fs::path& folder : one_case_per_op()) {
    SCOPED_TRACE(folder.string());
    std::ifstream in(folder / "case.json");
    const auto spec = nlohmann::json::parse(in);
    const std::string package = (folder / "model.mlpackage").string();
    auto native = Model::load(package, {.backend = Backend::kNative});
    const Inputs inputs = case_inputs(folder, spec);
    // Core ML's multi-arrays carry fp16, fp32, fp64 and int32 only.
    bool holdable = true;
    for (const auto& f : native.function().inputs) {
      holdable &= f.dtype == "fp16" || f.dtype == "fp32" || f.dtype == "fp64" || f.dtype == "int32";
    }
    bool classifier = false;
    for (const auto& [type, n] : native.function().op_counts) classifier |= type == "classify";
    if (classifier) {
      EXPECT_NE(error_of([&] {
                  Model::load(package, {.backend = Backend::kCoreML});
                }).find("classifier results are not converted"),
                std::string::npos);
      ++refused;
      continue;
    }
    auto core_ml = Model::load(package, {.backend = Backend::kCoreML});
    ASSERT_EQ(core_ml.backend(), Backend::kCoreML);
    if (!holdable) {
      EXPECT_NE(error_of([&] { run(core_ml, inputs); }).find("Core ML takes fp16, fp32"),
                std::string::npos);
      ++refused;
      continue;
    }
    const Outputs got = run(core_ml, inputs);
    const Outputs reference = run(native, inputs);
    for (const auto& output : spec.at("outputs")) {
      const std::string n = output;
      SCOPED_TRACE(n);
      const Tensor want = load_npy((folder / "expected" / (n + ".npy")).string());
      std::string why;
      EXPECT_TRUE(within(got.at(n), want, spec.at("atol"), spec.at("rtol"), &why)) << why;
      EXPECT_TRUE(bit_equal(got.at(n), reference.at(n)));
    }
    ++ran;
  }
  EXPECT_GT(ran, 100);  // most ops take fp16/fp32/int32 inputs
  std::cout << "[ coreml   ] " << ran << " cases ran, " << refused << " refused as expected\n";
}

// Rows padded or not, the outputs are the same (the backend honours MLMultiArray.strides).
TEST(CoreMLBackend, PaddedOutputRowsAreReadThroughStrides) {
  StandInDefaults restore;
  const fs::path folder = kData / "conformance/add/float16_row";
  std::ifstream in(folder / "case.json");
  const auto spec = nlohmann::json::parse(in);
  const Inputs inputs = case_inputs(folder, spec);
  auto model = Model::load((folder / "model.mlpackage").string(), {.backend = Backend::kCoreML});
  std::vector<Outputs> results;
  for (int padding : {0, 64, 256}) {
    coreml_stand_in::set_row_padding_bytes(padding);
    results.push_back(model.predict(inputs));
  }
  const Tensor want = load_npy((folder / "expected" / "add_0.npy").string());
  for (const auto& r : results) {
    EXPECT_EQ(r.front().second.dtype(), DType::kFloat16);
    EXPECT_TRUE(bit_equal(r.front().second, results[0].front().second));
  }
  std::string why;
  EXPECT_TRUE(within(results[1].front().second, want, spec.at("atol"), spec.at("rtol"), &why))
      << why;
}

Tensor half_tensor(const std::vector<float>& values) {
  return Tensor::from_vector(values, std::vector<int64_t>{1, static_cast<int64_t>(values.size())})
      .to(DType::kFloat16);
}

// prefill and infer of one model share one MLState (as ANEMLL's parts do); the values follow
// tests/data/runtime/shared_state.json (NumPy), as model_test checks natively.
TEST(CoreMLBackend, StatesLiveInCoreML) {
  const std::string path = (kData / "runtime/shared_state.mlpackage").string();
  auto prefill = Model::load(path, {.function = "prefill", .backend = Backend::kCoreML});
  EXPECT_EQ(coreml_stand_in::last_function_name(), "prefill");
  auto infer = Model::load(path, {.backend = Backend::kCoreML});
  EXPECT_EQ(coreml_stand_in::last_function_name(), "infer");  // multifunction: always named
  auto native = Model::load(path, {.function = "prefill", .backend = Backend::kNative});
  State state = prefill.make_state();
  ASSERT_FALSE(state.empty());
  EXPECT_TRUE(state.tensors().empty());
  EXPECT_NE(error_of([&] { state.at("cache"); }).find("State::read"), std::string::npos);
  std::ifstream in(kData / "runtime/shared_state.json");
  const auto spec = nlohmann::json::parse(in);
  for (const auto& call : spec.at("calls")) {
    Model& m = call.at("function") == "prefill" ? prefill : infer;
    const Outputs out =
        m.predict({{"x", half_tensor(call.at("x").get<std::vector<float>>())}}, state);
    EXPECT_EQ(out.at("updated").dtype(), DType::kFloat16);
    EXPECT_EQ(out.at("updated").to(DType::kFloat32).to_vector<float>(),
              call.at("expected").get<std::vector<float>>())
        << call.dump();
    EXPECT_TRUE(bit_equal(state.read("cache"), out.at("updated"))) << call.dump();
  }
  state.reset();
  for (float v : state.read("cache").to(DType::kFloat32).to_vector<float>()) ASSERT_EQ(v, 0.f);
  const Inputs inputs = {{"x", half_tensor({1, 2, 3, 4})}};
  // States do not cross backends, and a stateful function needs one.
  State native_state = native.make_state();
  EXPECT_NE(error_of([&] { prefill.predict(inputs, native_state); }).find("not made by Core ML"),
            std::string::npos);
  EXPECT_NE(error_of([&] { native.predict(inputs, state); }).find("lives in Core ML"),
            std::string::npos);
  EXPECT_NE(error_of([&] { prefill.predict(inputs); }).find("has states"), std::string::npos);
}

TEST(CoreMLBackend, OlderSystemsLackFunctionNameAndStates) {
  StandInDefaults restore;
  coreml_stand_in::set_system_version(14);
  const std::string path = (kData / "runtime/shared_state.mlpackage").string();
  auto model = Model::load(path, {.backend = Backend::kCoreML});  // the default function loads
  EXPECT_EQ(coreml_stand_in::last_function_name(), "");
  EXPECT_NE(error_of([&] { model.make_state(); }).find("MLState (macOS 15, iOS 18)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              Model::load(path, {.function = "prefill", .backend = Backend::kCoreML});
            }).find("MLModelConfiguration.functionName (macOS 15, iOS 18)"),
            std::string::npos);
}

TEST(CoreMLBackend, ComputeUnitsReachTheConfiguration) {
  const std::string path = (kData / "models/elementwise.mlpackage").string();
  const std::pair<ComputeUnits, int> cases[] = {{ComputeUnits::kCpuOnly, 0},
                                                {ComputeUnits::kCpuAndGpu, 1},
                                                {ComputeUnits::kAll, 2},
                                                {ComputeUnits::kCpuAndNeuralEngine, 3}};
  for (const auto& [units, ml_value] : cases) {
    Model::load(path, {.backend = Backend::kCoreML, .compute_units = units});
    EXPECT_EQ(coreml_stand_in::last_compute_units(), ml_value);
  }
}

TEST(CoreMLBackend, CompiledModelsAreCachedByContent) {
  const fs::path copy = fs::temp_directory_path() /
                        ("coreml_backend_cache_" + std::to_string(getpid())) / "m.mlpackage";
  fs::remove_all(copy.parent_path());
  fs::create_directories(copy.parent_path());
  fs::copy(kData / "models/elementwise.mlpackage", copy, fs::copy_options::recursive);
  // Content no other test has (the cache is keyed by content, not by path).
  std::ofstream(copy / "Manifest.json", std::ios::app) << "\n";
  const int before = coreml_stand_in::compile_count();
  Model::load(copy.string(), {.backend = Backend::kCoreML});
  EXPECT_EQ(coreml_stand_in::compile_count(), before + 1);
  Model::load(copy.string(), {.backend = Backend::kCoreML});
  EXPECT_EQ(coreml_stand_in::compile_count(), before + 1);  // from the cache
  // Other content, another key: compiled again.
  std::ofstream(copy / "Manifest.json", std::ios::app) << " ";
  Model::load(copy.string(), {.backend = Backend::kCoreML});
  EXPECT_EQ(coreml_stand_in::compile_count(), before + 2);
  fs::remove_all(copy.parent_path());
}

TEST(CoreMLBackend, CoreMLErrorsBecomeErrors) {
  // The stand-in's compiler rejects a broken model with an NSError; its message comes through.
  const fs::path broken = fs::temp_directory_path() /
                          ("coreml_backend_broken_" + std::to_string(getpid()) + ".mlmodel");
  std::ofstream(broken) << "not a model";
  const std::string message =
      error_of([&] { Model::load(broken.string(), {.backend = Backend::kCoreML}); });
  EXPECT_NE(message.find(broken.string()), std::string::npos) << message;
  fs::remove(broken);
  // Inputs are checked by the facade before Core ML sees them, as on the native backend.
  auto model =
      Model::load((kData / "models/elementwise.mlpackage").string(), {.backend = Backend::kCoreML});
  EXPECT_NE(error_of([&] { model.predict({}); }).find("missing input"), std::string::npos);
}

// The tiny ANEMLL models, every part on the Core ML backend: greedy tokens follow the goldens
// (as llm_golden_test checks natively) and the logits equal the native backend's bit for bit.
class AnemllOnCoreML : public ::testing::TestWithParam<std::string> {};

TEST_P(AnemllOnCoreML, MatchesGoldensAndNative) {
  const std::string folder = (kData / "anemll" / GetParam()).string();
  auto core_ml = llm::Model::load(folder, {.backend = Backend::kCoreML});
  auto native = llm::Model::load(folder, {.backend = Backend::kNative});
  EXPECT_EQ(core_ml->backend(), Backend::kCoreML);
  std::ifstream in(fs::path(folder) / "goldens/goldens.json");
  const auto doc = nlohmann::json::parse(in);
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    llm::Sequence on_core_ml(*core_ml), on_native(*native);
    for (const auto& turn : c["turns"]) {
      const auto append = turn["append"].get<std::vector<int32_t>>();
      const auto expected = turn["tokens"].get<std::vector<int32_t>>();
      const auto margins = turn["top2_margins"].get<std::vector<double>>();
      on_core_ml.extend(append);
      on_native.extend(append);
      for (size_t step = 0; step < expected.size(); ++step) {
        const auto got = on_core_ml.next();
        const auto want = on_native.next();
        ASSERT_EQ(got.logits, want.logits) << "step " << step;
        ASSERT_EQ(got.argmax_token, want.argmax_token) << "step " << step;
        const int32_t token =
            got.logits.empty() ? got.argmax_token : llm::Sampler::argmax(got.logits);
        if (margins[step] >= 0.05) {
          EXPECT_EQ(token, expected[step]) << "step " << step;
        }
        on_core_ml.accept(expected[step]);
        on_native.accept(expected[step]);
      }
    }
    EXPECT_EQ(on_core_ml.context_shifts(), on_native.context_shifts());
  }
}

INSTANTIATE_TEST_SUITE_P(Tiny, AnemllOnCoreML,
                         ::testing::Values("tiny-qwen3", "tiny-qwen3-v034", "tiny-qwen25"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace coreml
