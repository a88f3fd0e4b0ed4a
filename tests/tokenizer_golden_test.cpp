// Compares our tokenizers with golden encodings from Hugging Face `tokenizers`
// (tools/fixtures/make_tokenizer_fixtures.py): ids with and without special tokens, pair
// encodings, decoded text with and without special tokens, and streaming decode.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "coreml/llm/tokenizer.h"

namespace {

using coreml::llm::Tokenizer;
using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kDataDir = fs::path(COREML_TEST_DATA_DIR) / "tokenizers";

std::vector<std::string> read_strings() {
  std::vector<std::string> strings;
  std::ifstream in(kDataDir / "strings.jsonl");
  std::string line;
  while (std::getline(in, line)) strings.push_back(json::parse(line).get<std::string>());
  return strings;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string streamed(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip) {
  auto decoder = tokenizer.incremental_decoder({.skip_special_tokens = skip});
  std::string text;
  for (int32_t id : ids) text += decoder.step(id);
  return text + decoder.finish();
}

struct Counts {
  size_t rows = 0, failures = 0;
};

// Checks every golden row; reports the first few differences in full.
Counts check_goldens(const Tokenizer& tokenizer, const std::string& name,
                     const std::vector<std::string>& strings) {
  Counts counts;
  std::ifstream in(kDataDir / (name + ".golden.jsonl"));
  EXPECT_TRUE(in.good()) << name;
  std::string line;
  auto report = [&](bool ok, size_t index, const std::string& what) {
    if (ok) return;
    if (++counts.failures <= 5) {
      ADD_FAILURE() << name << " string #" << index << " ("
                    << json(strings[index]).dump().substr(0, 200) << "): " << what;
    }
  };
  while (std::getline(in, line)) {
    json row = json::parse(line);
    size_t index = row["i"];
    const std::string& text = strings.at(index);
    ++counts.rows;
    auto ids = row["ids"].get<std::vector<int32_t>>();
    auto special = row.value("ids_special", ids);
    std::string decoded = row.value("decoded", text);
    std::string decoded_skip = row.value("decoded_skip", decoded);

    auto ours = tokenizer.encode(text);
    report(ours == ids, index, "ids differ: ours " + json(ours).dump() + " vs " + json(ids).dump());
    auto ours_special = tokenizer.encode(text, {.add_special_tokens = true});
    report(ours_special == special, index,
           "ids with special tokens differ: ours " + json(ours_special).dump() + " vs " +
               json(special).dump());
    std::string ours_decoded = tokenizer.decode(ids);
    report(ours_decoded == decoded, index,
           "decode differs: " + json(ours_decoded).dump() + " vs " + json(decoded).dump());
    report(tokenizer.decode(special, {.skip_special_tokens = true}) == decoded_skip, index,
           "decode(skip_special_tokens) differs");
    report(streamed(tokenizer, ids, false) == decoded, index,
           "incremental decode differs: " + json(streamed(tokenizer, ids, false)).dump());
    report(streamed(tokenizer, special, true) == decoded_skip, index,
           "incremental decode (skip special) differs");
    if (row.contains("pair_ids")) {
      auto pair = tokenizer.encode_pair(text, strings.at(row["pair_with"].get<size_t>()),
                                        {.add_special_tokens = true});
      report(pair.ids == row["pair_ids"].get<std::vector<int32_t>>(), index, "pair ids differ");
    }
  }
  return counts;
}

TEST(TokenizerGolden, TrainedAndComponentTokenizers) {
  const auto strings = read_strings();
  ASSERT_GT(strings.size(), 1000u);
  json meta = json::parse(read_all(kDataDir / "meta.json"));
  size_t total_rows = 0, tokenizers = 0;
  for (const auto& [name, info] : meta.items()) {
    if (name == "qwen3") continue;
    SCOPED_TRACE(name);
    Tokenizer tokenizer = Tokenizer::from_file(kDataDir / (name + ".tokenizer.json"));
    EXPECT_EQ(tokenizer.vocab_size(), info["vocab_size"].get<size_t>()) << name;
    Counts counts = check_goldens(tokenizer, name, strings);
    EXPECT_EQ(counts.failures, 0u) << name;
    EXPECT_GE(counts.rows + 5, info["strings"].get<size_t>()) << name;
    total_rows += counts.rows;
    ++tokenizers;
  }
  std::cout << "[golden] compared " << total_rows << " strings over " << tokenizers
            << " tokenizers\n";
}

TEST(TokenizerGolden, LongInputByteLevelBpe) {
  Tokenizer tokenizer = Tokenizer::from_file(kDataDir / "bytelevel_bpe.tokenizer.json");
  std::string text = read_all(kDataDir / "long.txt");
  ASSERT_GT(text.size(), 90'000u);
  auto expected = json::parse(read_all(kDataDir / "bytelevel_bpe.long.golden.json"));
  EXPECT_EQ(tokenizer.encode(text), expected.get<std::vector<int32_t>>());
}

fs::path qwen_dir() { return fs::path(COREML_SHARED_DIR) / "fixtures" / "qwen3-tokenizer"; }

TEST(TokenizerGolden, Qwen3) {
  if (!fs::exists(qwen_dir() / "tokenizer.json")) {
    GTEST_SKIP() << "Qwen 3 tokenizer not found under " << qwen_dir();
  }
  const auto strings = read_strings();
  Tokenizer tokenizer = Tokenizer::from_file(qwen_dir());
  json meta = json::parse(read_all(kDataDir / "meta.json"));
  EXPECT_EQ(tokenizer.vocab_size(), meta["qwen3"]["vocab_size"].get<size_t>());
  Counts counts = check_goldens(tokenizer, "qwen3", strings);
  EXPECT_EQ(counts.failures, 0u);
  std::cout << "[golden] qwen3: compared " << counts.rows << " strings\n";

  std::string text = read_all(kDataDir / "long.txt");
  auto expected = json::parse(read_all(kDataDir / "qwen3.long.golden.json"));
  EXPECT_EQ(tokenizer.encode(text), expected.get<std::vector<int32_t>>());

  ASSERT_TRUE(tokenizer.eos_token());
  EXPECT_EQ(tokenizer.eos_token()->content, "<|im_end|>");
  EXPECT_EQ(tokenizer.eos_token()->id, 151645);
  EXPECT_FALSE(tokenizer.bos_token());
  ASSERT_TRUE(tokenizer.pad_token());
  EXPECT_EQ(tokenizer.pad_token()->id, 151643);
  EXPECT_EQ(tokenizer.add_bos_token(), false);
}

}  // namespace
