// coreml::llm::Model: meta.yaml errors, prompt limits, stops, streaming, cancel, chat sessions
// and the generate / chat commands, on the tiny ANEMLL test models.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "coreml/error.h"
#include "coreml/llm/model.h"
#include "support/run_command.h"

namespace fs = std::filesystem;
using coreml::llm::GenerateOptions;
using coreml::llm::Model;

namespace {

const std::string kQwen3 = COREML_TEST_DATA_DIR "/anemll/tiny-qwen3";

std::shared_ptr<Model> qwen3() {
  static auto model = Model::load(kQwen3);
  return model;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A folder linking to tiny-qwen3's files, with meta.yaml replaced by `meta`.
fs::path folder_with_meta(const std::string& tag, const std::string& meta) {
  const fs::path dir =
      fs::temp_directory_path() / ("coreml_llm_meta_" + tag + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(kQwen3)) {
    if (entry.path().filename() == "meta.yaml") continue;
    fs::create_symlink(entry.path(), dir / entry.path().filename());
  }
  std::ofstream(dir / "meta.yaml") << meta;
  return dir;
}

void expect_load_error(const std::string& tag, const std::string& meta, const std::string& word) {
  const fs::path dir = folder_with_meta(tag, meta);
  try {
    Model::load(dir.string());
    ADD_FAILURE() << "no error for " << tag;
  } catch (const coreml::Error& e) {
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

GenerateOptions greedy(int max_tokens) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling.temperature = 0.0f;
  o.ignore_eos = true;
  return o;
}

TEST(LlmModel, SizesFromParts) {
  const auto& info = qwen3()->info();
  EXPECT_EQ(info.hidden_size, 64);
  EXPECT_EQ(info.batch_size, 8);
  EXPECT_EQ(info.context_length, 64);
  EXPECT_EQ(info.vocab_size, 1024);
  EXPECT_EQ(info.lm_head_splits, 16);
  EXPECT_EQ(info.num_chunks, 2);
  // eos from generation_config.json (1000, 998) plus end-of-turn tokens in the vocab.
  const auto& stops = qwen3()->stop_token_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), 1000), stops.end());
  EXPECT_NE(std::find(stops.begin(), stops.end(), 998), stops.end());
}

TEST(LlmModel, MetaErrors) {
  const std::string meta = read(fs::path(kQwen3) / "meta.yaml");
  expect_load_error("missing", std::regex_replace(meta, std::regex(" *context_length: 64\n"), ""),
                    "context_length");
  expect_load_error(
      "mismatch", std::regex_replace(meta, std::regex("context_length: 64"), "context_length: 128"),
      "context_length is 128");
  expect_load_error("vocab",
                    std::regex_replace(meta, std::regex("vocab_size: 1024"), "vocab_size: 2048"),
                    "vocab_size");
  expect_load_error("nochunk",
                    std::regex_replace(meta, std::regex("num_chunks: 2"), "num_chunks: 3"),
                    "FFN chunk 1 of 3");
  expect_load_error("deep", meta + "deep: " + std::string(200, '[') + "\n", "nesting");
  expect_load_error("monolithic",
                    std::regex_replace(meta, std::regex("  version: 0.3.5"),
                                       "  version: 0.3.5\n  model_type: monolithic"),
                    "missing required key 'monolithic_model'");
  // Unknown keys are ignored.
  const fs::path dir = folder_with_meta("extra", meta + "extra_key: [1, 2]\n");
  EXPECT_NO_THROW(Model::load(dir.string()));
  fs::remove_all(dir);
}

TEST(LlmModel, PromptTooLong) {
  std::vector<int32_t> ids(70, 5);
  EXPECT_THROW(qwen3()->generate(ids, greedy(2)), coreml::Error);
  GenerateOptions o = greedy(2);
  o.truncate = true;
  const auto result = qwen3()->generate(ids, o);
  EXPECT_EQ(result.prompt_token_ids.size(), 63u);
  EXPECT_EQ(result.token_ids.size(), 2u);
}

TEST(LlmModel, StreamingStopStringsAndCancel) {
  const std::vector<int32_t> prompt{11, 22, 33, 44, 55};
  std::string streamed;
  GenerateOptions o = greedy(24);
  o.on_token = [&](std::string_view piece, int32_t) {
    streamed += piece;
    return true;
  };
  const auto full = qwen3()->generate(prompt, o);
  EXPECT_EQ(full.finish_reason, "length");
  EXPECT_EQ(full.token_ids.size(), 24u);
  EXPECT_EQ(streamed, full.text);
  EXPECT_EQ(full.text, qwen3()->tokenizer().decode(full.token_ids, {.skip_special_tokens = true}));
  ASSERT_GT(full.text.size(), 12u);

  // A stop string taken from the middle of the text: the text ends right before it.
  size_t at = full.text.size() / 2;
  while (at < full.text.size() && (static_cast<unsigned char>(full.text[at]) & 0xC0) == 0x80) ++at;
  const std::string stop = full.text.substr(at, 2);
  streamed.clear();
  o.stop = {stop};
  const auto stopped = qwen3()->generate(prompt, o);
  EXPECT_EQ(stopped.finish_reason, "stop");
  EXPECT_EQ(stopped.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(streamed, stopped.text);

  // Cancel after three tokens.
  int calls = 0;
  o.stop.clear();
  o.on_token = [&](std::string_view, int32_t) { return ++calls < 3; };
  const auto cancelled = qwen3()->generate(prompt, o);
  EXPECT_EQ(cancelled.finish_reason, "cancelled");
  EXPECT_EQ(cancelled.token_ids.size(), 3u);
}

TEST(LlmModel, EosStops) {
  // Sampling with the default config stops at an eos id or the length limit; never emits one.
  GenerateOptions o;
  o.max_tokens = 40;
  o.sampling.seed = 1;
  const auto result = qwen3()->generate(std::vector<int32_t>{1, 2, 3}, o);
  for (int32_t id : result.token_ids) EXPECT_NE(id, 1000);
  EXPECT_TRUE(result.finish_reason == "stop" || result.finish_reason == "length");
}

TEST(LlmModel, StopsAtEosFromGenerationConfig) {
  // tiny-qwen25's goldens (NumPy reference): prompt_1 greedily reaches eos 1002 at step 5.
  const std::string folder = COREML_TEST_DATA_DIR "/anemll/tiny-qwen25";
  std::ifstream in(folder + "/goldens/goldens.json");
  const auto doc = nlohmann::json::parse(in);
  const auto& turn = doc["cases"][0]["turns"][0];
  ASSERT_EQ(doc["cases"][0]["name"], "prompt_1");
  const auto expected = turn["tokens"].get<std::vector<int32_t>>();
  ASSERT_EQ(expected[5], 1002);
  auto model = Model::load(folder);
  GenerateOptions o = greedy(20);
  o.ignore_eos = false;
  const auto result = model->generate(turn["append"].get<std::vector<int32_t>>(), o);
  EXPECT_EQ(result.finish_reason, "stop");
  EXPECT_EQ(result.token_ids, std::vector<int32_t>(expected.begin(), expected.begin() + 5));
}

TEST(LlmModel, Qwen3ThinkingSwitch) {
  const nlohmann::ordered_json messages = {{{"role", "user"}, {"content", "Hi"}}};
  const auto& tok = qwen3()->tokenizer();
  const std::string on = tok.decode(qwen3()->encode_chat(messages, {.enable_thinking = true}));
  const std::string off = tok.decode(qwen3()->encode_chat(messages, {.enable_thinking = false}));
  EXPECT_EQ(on.find("<think>"), std::string::npos) << on;
  EXPECT_NE(off.find("<think>\n\n</think>"), std::string::npos) << off;
  EXPECT_EQ(on, tok.decode(qwen3()->encode_chat(messages)));  // thinking is Qwen 3's default
}

TEST(LlmChatSession, PrefixReusePrefillsOnlyNewTokens) {
  coreml::llm::ChatSession chat(qwen3());
  chat.set_thinking(false);
  const auto first = chat.send("Hello there", greedy(6));
  EXPECT_EQ(first.stats.prefilled_tokens, first.stats.prompt_tokens);
  const auto second = chat.send("And again", greedy(6));
  EXPECT_LT(second.stats.prefilled_tokens, second.stats.prompt_tokens);
  EXPECT_GT(second.stats.prefilled_tokens, 0);
  // Same tokens as a fresh full prefill of the same prompt.
  const auto fresh = qwen3()->generate(second.prompt_token_ids, greedy(6));
  EXPECT_EQ(fresh.stats.prefilled_tokens, fresh.stats.prompt_tokens);
  EXPECT_EQ(second.token_ids, fresh.token_ids);
}

TEST(LlmChatSession, LongConversationDropsOldestTurns) {
  coreml::llm::ChatSession chat(qwen3());
  chat.set_thinking(false);
  for (int turn = 0; turn < 5; ++turn) {
    const auto result = chat.send("Tell me more", greedy(20));
    EXPECT_LE(result.stats.prompt_tokens, 63);
  }
  EXPECT_LT(chat.messages().size(), 10u);
  EXPECT_GE(chat.messages().size(), 2u);
}

TEST(LlmCli, GenerateJson) {
  const auto r =
      coreml::test::run_cli({"generate", "--model", kQwen3, "--prompt", "Hi", "--max-tokens", "5",
                             "--temperature", "0", "--no-think", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  for (const char* key : {"text", "token_ids", "prompt_token_ids", "finish_reason", "stats"}) {
    EXPECT_TRUE(out.contains(key)) << key;
  }
  EXPECT_LE(out["token_ids"].size(), 5u);
  EXPECT_GT(out["prompt_token_ids"].size(), 3u);
  for (const char* key :
       {"prompt_tokens", "generated_tokens", "ttft_ms", "prefill_tok_s", "decode_tok_s"}) {
    EXPECT_TRUE(out["stats"].contains(key)) << key;
  }
  const auto bad = coreml::test::run_cli({"generate", "--model", kQwen3});
  EXPECT_EQ(bad.exit_code, 2);
}

TEST(LlmCli, ChatReadsLinesFromStdin) {
  const fs::path dir = fs::temp_directory_path() / ("coreml_llm_chat_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in.txt") << "Hello\n/stats\n/think off\nSecond line\n/exit\nignored\n";
  const std::string command = std::string("'") + COREML_CLI_PATH + "' chat --model '" + kQwen3 +
                              "' --max-tokens 3 --temperature 0 < '" + (dir / "in.txt").string() +
                              "' > '" + (dir / "out.txt").string() + "' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read(dir / "out.txt");
  const std::string out = read(dir / "out.txt");
  EXPECT_NE(out.find("[prompt "), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(LlmCli, BenchJson) {
  const auto r = coreml::test::run_cli(
      {"bench", "--model", kQwen3, "--prompt-tokens", "20", "--gen-tokens", "4", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_GT(out["decode_tok_s"].get<double>(), 0);
  EXPECT_GT(out["prefill_tok_s"].get<double>(), 0);
  EXPECT_GT(out["peak_rss_mb"].get<double>(), 0);
}

}  // namespace
