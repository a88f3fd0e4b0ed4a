// The side files of an ANEMLL folder (meta.yaml, generation_config.json) are untrusted: every
// value is checked, part names cannot leave the folder, and special files are refused without
// blocking. Expected values are the files' own numbers.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "coreml/error.h"
#include "llm/anemll_meta.h"
#include "llm/generation_config.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using coreml::test::error_of;

class SideFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/coreml_side_files_test_XXXXXX";
    dir = mkdtemp(pattern);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  std::string generation_error(const std::string& text) {
    std::ofstream(dir / "generation_config.json") << text;
    std::vector<int32_t> stops;
    coreml::llm::SamplingParams defaults;
    return error_of([&] {
      coreml::llm::read_generation_config(dir / "generation_config.json", stops, defaults);
    });
  }
  fs::path dir;
};

TEST_F(SideFilesTest, GenerationConfigValuesAreReadAndChecked) {
  std::ofstream(dir / "generation_config.json")
      << R"({"eos_token_id": [1000, 998], "temperature": 0.6, "top_p": 0.95, "top_k": 20,
            "min_p": 0.05, "repetition_penalty": 1.1, "do_sample": true, "bos_token_id": 1})";
  std::vector<int32_t> stops;
  coreml::llm::SamplingParams defaults;
  coreml::llm::read_generation_config(dir / "generation_config.json", stops, defaults);
  EXPECT_EQ(stops, (std::vector<int32_t>{1000, 998}));
  EXPECT_FLOAT_EQ(*defaults.temperature, 0.6f);
  EXPECT_FLOAT_EQ(*defaults.top_p, 0.95f);
  EXPECT_EQ(*defaults.top_k, 20);
  EXPECT_FLOAT_EQ(*defaults.min_p, 0.05f);
  EXPECT_FLOAT_EQ(*defaults.repetition_penalty, 1.1f);
  // A missing file changes nothing.
  std::vector<int32_t> none;
  coreml::llm::SamplingParams untouched;
  coreml::llm::read_generation_config(dir / "absent.json", none, untouched);
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(untouched.temperature.has_value());
}

TEST_F(SideFilesTest, GenerationConfigRefusesWhatCannotBeRight) {
  EXPECT_HAS(generation_error(R"({"top_k": 1e300})"), "'top_k' must be a number in 0..");
  EXPECT_HAS(generation_error(R"({"temperature": -1})"), "'temperature' must be a number");
  EXPECT_HAS(generation_error(R"({"top_p": 5})"), "'top_p' must be a number in 0..1");
  EXPECT_HAS(generation_error(R"({"repetition_penalty": 0})"), "'repetition_penalty'");
  EXPECT_HAS(generation_error(R"({"eos_token_id": 99999999999999})"), "eos_token_id");
  EXPECT_HAS(generation_error(R"({"eos_token_id": [1, -7]})"), "eos_token_id");
  EXPECT_HAS(generation_error(R"({"do_sample": "yes"})"), "'do_sample' must be true or false");
  EXPECT_HAS(generation_error("[1, 2]"), "expected a JSON object");
  EXPECT_HAS(generation_error(std::string(1000, '[') + std::string(1000, ']')),
             "nested deeper than 256");
  fs::remove(dir / "generation_config.json");
  ASSERT_EQ(mkfifo((dir / "generation_config.json").c_str(), 0600), 0);
  std::vector<int32_t> stops;
  coreml::llm::SamplingParams defaults;
  EXPECT_HAS(error_of([&] {
               coreml::llm::read_generation_config(dir / "generation_config.json", stops, defaults);
             }),
             "pipe (FIFO)");
}

TEST_F(SideFilesTest, MetaYamlPartNamesStayInTheFolder) {
  const std::string base = R"(model_info:
  version: 0.3.5
  parameters:
    context_length: 64
    batch_size: 8
    num_chunks: 1
    model_prefix: qwen
    lm_head: qwen_lm_head.mlmodelc
    ffn: qwen_FFN.mlmodelc
    embeddings: )";
  for (const std::string name :
       {"../../x.mlmodelc", "/etc/x.mlmodelc", "a/b.mlmodelc", "..", "\"qwen.mlmodelc\\0.zip\""}) {
    EXPECT_HAS(error_of([&] { coreml::llm::parse_anemll_meta(base + name + "\n", "meta.yaml"); }),
               "'embeddings' must be a file name in the model folder");
  }
  EXPECT_NO_THROW(coreml::llm::parse_anemll_meta(base + "qwen_embeddings.mlmodelc\n", "m.yaml"));
  EXPECT_HAS(error_of([&] {
               coreml::llm::parse_anemll_meta(
                   base + "e.mlmodelc\n    recommended_sampling:\n      temperature: .nan\n",
                   "meta.yaml");
             }),
             "'temperature' must be a number");
}

TEST_F(SideFilesTest, MetaYamlThatIsNotAFileIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo((dir / "meta.yaml").c_str(), 0600), 0);
  EXPECT_HAS(error_of([&] { coreml::llm::read_anemll_meta((dir / "meta.yaml").string()); }),
             "meta.yaml: is a pipe (FIFO), not a regular file");
  EXPECT_HAS(error_of([&] { coreml::llm::read_anemll_meta((dir / "none.yaml").string()); }),
             "an ANEMLL model folder needs meta.yaml");
}

}  // namespace
