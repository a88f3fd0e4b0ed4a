// ANEMLL tiny models against the goldens of tools/fixtures/anemll_reference.py (an independent
// NumPy network): greedy tokens, first-step logits, context shifts, prefix reuse.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "coreml/llm/model.h"
#include "coreml/tensor.h"
#include "llm/sampler.h"

namespace fs = std::filesystem;
using coreml::llm::Model;
using coreml::llm::Sequence;

namespace {

const std::string kData = COREML_TEST_DATA_DIR "/anemll/";
// Steps whose top-2 margin is below this are allowed to differ (fp16 rounding order).
constexpr double kMarginTolerance = 0.05;

// tiny-llama-zip holds only zips: copy it to a temporary folder so extraction leaves the
// source tree alone.
std::string model_folder(const std::string& name) {
  if (name != "tiny-llama-zip") return kData + name;
  const fs::path temp = fs::temp_directory_path() / ("coreml_llm_test_" + std::to_string(getpid()));
  const fs::path copy = temp / name;
  if (!fs::exists(copy)) {
    fs::create_directories(temp);
    fs::copy(kData + name, copy, fs::copy_options::recursive);
  }
  return copy.string();
}

// Removes the temporary copy when the test program ends.
struct TempCleanup {
  ~TempCleanup() {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("coreml_llm_test_" + std::to_string(getpid())), ec);
  }
} temp_cleanup;

std::shared_ptr<Model> load(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Model>> cache;
  auto& slot = cache[name];
  if (!slot) slot = Model::load(model_folder(name));
  return slot;
}

nlohmann::json goldens(const std::string& name) {
  std::ifstream in(kData + name + "/goldens/goldens.json");
  return nlohmann::json::parse(in);
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, GreedyTokensLogitsShiftsAndPrefixReuse) {
  const std::string name = GetParam();
  auto model = load(name);
  const auto doc = goldens(name);
  EXPECT_EQ(model->info().context_length, doc["context_length"].get<int64_t>());
  EXPECT_EQ(model->info().batch_size, doc["batch_size"].get<int64_t>());
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(name + " " + c["name"].get<std::string>());
    Sequence sequence(*model);
    int turn_index = 0;
    for (const auto& turn : c["turns"]) {
      ++turn_index;
      const auto append = turn["append"].get<std::vector<int32_t>>();
      const auto expected = turn["tokens"].get<std::vector<int32_t>>();
      const auto margins = turn["top2_margins"].get<std::vector<double>>();
      const coreml::Tensor logits =
          coreml::load_npy(kData + name + "/goldens/" + turn["logits_file"].get<std::string>())
              .to(coreml::DType::kFloat32)
              .contiguous();
      const int shifts_before = sequence.context_shifts();
      const int64_t prefilled_before = sequence.prefilled_tokens();
      const size_t pending = sequence.tokens().size() - sequence.processed();
      sequence.extend(append);
      // Only the new tokens (and the last generated one, not yet run) were prefilled; a
      // rotating model keeps less (see SlidingWindowReuse below).
      if (!model->info().rotates) {
        EXPECT_EQ(sequence.prefilled_tokens() - prefilled_before,
                  static_cast<int64_t>(append.size() + pending));
      }
      int mismatches = 0;
      for (size_t step = 0; step < expected.size(); ++step) {
        const auto out = sequence.next();
        const int32_t token =
            out.logits.empty() ? out.argmax_token : coreml::llm::Sampler::argmax(out.logits);
        if (margins[step] >= kMarginTolerance) {
          EXPECT_EQ(token, expected[step]) << "turn " << turn_index << " step " << step;
        } else if (token != expected[step]) {
          ++mismatches;
        }
        if (step < static_cast<size_t>(logits.size(0)) && !out.logits.empty()) {
          ASSERT_EQ(static_cast<int64_t>(out.logits.size()), logits.size(1));
          const float* want = logits.data<float>() + step * logits.size(1);
          double worst = 0;
          for (size_t v = 0; v < out.logits.size(); ++v) {
            worst = std::max(worst, std::abs(double(out.logits[v]) - want[v]) /
                                        (0.02 + 0.01 * std::abs(want[v])));
          }
          EXPECT_LE(worst, 1.0) << "logits differ at turn " << turn_index << " step " << step;
        }
        // Follow the golden path so later steps stay comparable.
        sequence.accept(expected[step]);
      }
      EXPECT_LE(mismatches, 1);
      EXPECT_EQ(sequence.context_shifts() - shifts_before, turn["context_shifts"].get<int>());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Anemll, GoldenTest,
                         ::testing::Values("tiny-qwen3", "tiny-qwen3-v034", "tiny-qwen25",
                                           "tiny-llama-zip", "tiny-gemma3", "tiny-mono",
                                           "tiny-mono-umask-argmax", "tiny-gemma3-mono"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

}  // namespace
