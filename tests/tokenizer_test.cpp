// Unit tests of the tokenizer API: errors, config special tokens, streaming decode edge cases,
// the SentencePiece charsmap, and the tokenize / detokenize commands.
#include "coreml/llm/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coreml/error.h"
#include "llm/tokenizer/precompiled.h"
#include "support/run_command.h"

namespace {

using coreml::llm::Tokenizer;
using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kDataDir = fs::path(COREML_TEST_DATA_DIR) / "tokenizers";

// A tiny byte-fallback BPE written by hand: "a", "b", "ab", "▁", "▁ab", <0x00>..<0xFF>.
json tiny_tokenizer() {
  json vocab = {{"<unk>", 0},
                {"a", 1},
                {"b", 2},
                {"ab", 3},
                {"\xE2\x96\x81", 4},
                {"\xE2\x96\x81"
                 "ab",
                 5}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 6 + b;
  }
  return {{"version", "1.0"},
          {"added_tokens", json::array({{{"id", 262},
                                         {"content", "<s>"},
                                         {"special", true},
                                         {"lstrip", false},
                                         {"rstrip", false},
                                         {"normalized", false},
                                         {"single_word", false}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "Metaspace"},
            {"replacement", "\xE2\x96\x81"},
            {"prepend_scheme", "first"},
            {"split", true}}},
          {"post_processor", nullptr},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders", json::array({{{"type", "ByteFallback"}},
                                      {{"type", "Metaspace"},
                                       {"replacement", "\xE2\x96\x81"},
                                       {"prepend_scheme", "first"},
                                       {"split", true}}})}}},
          {"model",
           {{"type", "BPE"},
            {"vocab", vocab},
            {"merges", json::array({"a b", "\xE2\x96\x81 ab"})},
            {"unk_token", "<unk>"},
            {"byte_fallback", true},
            {"fuse_unk", true}}}};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const coreml::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Tokenizer, EncodesAndDecodesByteFallback) {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer().dump());
  // "ab €": ▁ab, then "▁" and the three bytes of U+20AC.
  auto ids = t.encode("ab \xE2\x82\xAC");
  EXPECT_EQ(ids, (std::vector<int32_t>{5, 4, 6 + 0xE2, 6 + 0x82, 6 + 0xAC}));
  EXPECT_EQ(t.decode(ids), "ab \xE2\x82\xAC");
  EXPECT_EQ(t.token_to_id("<s>"), 262);
  EXPECT_EQ(t.id_to_token(3), "ab");
  EXPECT_FALSE(t.id_to_token(99999));
  EXPECT_EQ(t.vocab_size(), 263u);
  EXPECT_TRUE(t.is_special(262));
  EXPECT_EQ(t.decode(std::vector<int32_t>{262, 5}, {.skip_special_tokens = true}), "ab");
}

TEST(Tokenizer, IncrementalDecoderWaitsForWholeCharacters) {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer().dump());
  auto decoder = t.incremental_decoder();
  EXPECT_EQ(decoder.step(5), "ab");
  EXPECT_EQ(decoder.step(4), " ");  // a lone "▁" is a space, as in a full decode
  EXPECT_EQ(decoder.step(6 + 0xE2), "");
  EXPECT_EQ(decoder.step(6 + 0x82), "");
  std::string last = decoder.step(6 + 0xAC);
  EXPECT_EQ(last, "\xE2\x82\xAC");
  EXPECT_EQ(decoder.finish(), "");
  // An unfinished sequence comes out as U+FFFD per byte at the end, as decode() gives.
  auto broken = t.incremental_decoder();
  EXPECT_EQ(broken.step(6 + 0xE2), "");
  EXPECT_EQ(broken.finish(), "\xEF\xBF\xBD");
}

TEST(Tokenizer, InvalidUtf8NamesTheOffset) {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer().dump());
  EXPECT_NE(error_of([&] { t.encode("ab\xC3(x"); }).find("byte offset 2"), std::string::npos);
  EXPECT_NE(error_of([&] { t.encode("\xED\xA0\x80"); }).find("byte offset 0"), std::string::npos);
}

TEST(Tokenizer, UnknownComponentNamesTypeAndFile) {
  json j = tiny_tokenizer();
  j["normalizer"] = {{"type", "Shout"}};
  std::string message = error_of([&] { Tokenizer::from_json(j.dump(), "", "my.json"); });
  EXPECT_NE(message.find("Shout"), std::string::npos) << message;
  EXPECT_NE(message.find("my.json: normalizer"), std::string::npos) << message;
  j = tiny_tokenizer();
  j["decoder"]["decoders"][1]["type"] = "Nope";
  message = error_of([&] { Tokenizer::from_json(j.dump(), "", "my.json"); });
  EXPECT_NE(message.find("decoder.decoders[1]"), std::string::npos) << message;
}

TEST(Tokenizer, MalformedJsonGivesFieldPaths) {
  json j = tiny_tokenizer();
  j["model"]["merges"][1] = "\xE2\x96\x81 zz";
  EXPECT_NE(error_of([&] { Tokenizer::from_json(j.dump()); }).find("model.merges[1]"),
            std::string::npos);
  j = tiny_tokenizer();
  j["model"]["vocab"]["a"] = "one";
  EXPECT_NE(error_of([&] { Tokenizer::from_json(j.dump()); }).find("model.vocab"),
            std::string::npos);
  j = tiny_tokenizer();
  j["added_tokens"][0].erase("content");
  EXPECT_NE(error_of([&] { Tokenizer::from_json(j.dump()); }).find("added_tokens[0]"),
            std::string::npos);
  EXPECT_NE(error_of([] { Tokenizer::from_json("{\"model\": [1, 2"); }).find("invalid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([] { Tokenizer::from_json(std::string(1000, '[')); }).find("nested deeper"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); }).find("no such file"),
      std::string::npos);
}

TEST(Tokenizer, ConfigSpecialTokensAsStringsOrObjects) {
  json config = {{"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
                 {"eos_token", "ab"},
                 {"unk_token", "<unk>"},
                 {"pad_token", nullptr},
                 {"add_bos_token", true}};
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer().dump(), config.dump());
  ASSERT_TRUE(t.bos_token());
  EXPECT_EQ(t.bos_token()->content, "<s>");
  EXPECT_EQ(t.bos_token()->id, 262);
  EXPECT_EQ(t.eos_token()->id, 3);
  EXPECT_EQ(t.unk_token()->id, 0);
  EXPECT_FALSE(t.pad_token());
  EXPECT_EQ(t.add_bos_token(), true);
  EXPECT_FALSE(t.add_eos_token());
  config["eos_token"] = 7;
  EXPECT_NE(error_of([&] {
              Tokenizer::from_json(tiny_tokenizer().dump(), config.dump());
            }).find("tokenizer_config.json: eos_token"),
            std::string::npos);
}

// A darts-clone trie built by hand with the single key "A" -> "a" (independent of our code).
std::string charsmap_blob() {
  std::vector<uint32_t> units(66, 0);
  units[0] = 1u << 10;                            // root: children at 1 ^ label
  units[1 ^ 'A'] = (1u << 10) | (1u << 8) | 'A';  // label 'A', has a leaf at (64 ^ 1)
  units[(1 ^ 'A') ^ 1] = (1u << 31) | 0;          // leaf: value 0 = offset into the strings
  std::string blob;
  uint32_t size = static_cast<uint32_t>(units.size() * 4);
  for (int i = 0; i < 4; ++i) blob.push_back(static_cast<char>(size >> (8 * i)));
  for (uint32_t u : units) {
    for (int i = 0; i < 4; ++i) blob.push_back(static_cast<char>(u >> (8 * i)));
  }
  blob += std::string("a\0", 2);
  return blob;
}

std::string base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? alphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? alphabet[n & 63] : '=');
  }
  return out;
}

TEST(Tokenizer, PrecompiledCharsMap) {
  coreml::llm::tok::PrecompiledCharsMap map(charsmap_blob(), "test");
  EXPECT_EQ(map.transform("A"), "a");
  EXPECT_FALSE(map.transform("B"));
  EXPECT_EQ(map.normalize("AbA\xE2\x82\xAC"), "aba\xE2\x82\xAC");
  EXPECT_THROW(coreml::llm::tok::PrecompiledCharsMap("\x10\0\0\0", "test"), coreml::Error);

  json j = tiny_tokenizer();
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", base64(charsmap_blob())}};
  Tokenizer t = Tokenizer::from_json(j.dump());
  EXPECT_EQ(t.encode("AB"), t.encode("aB"));
}

TEST(TokenizerCli, TokenizeDetokenize) {
  std::string path = (kDataDir / "bytelevel_bpe.tokenizer.json").string();
  Tokenizer t = Tokenizer::from_file(path);
  auto r =
      coreml::test::run_cli({"tokenize", "--tokenizer", path, "--tokens", "--text", "Hi there"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  EXPECT_EQ(out["ids"].get<std::vector<int32_t>>(), t.encode("Hi there"));
  EXPECT_EQ(out["tokens"].size(), out["ids"].size());

  fs::path jsonl = fs::temp_directory_path() / "coreml_tokenize_test.jsonl";
  std::ofstream(jsonl) << json("one").dump() << "\n" << json("two words\n").dump() << "\n";
  r = coreml::test::run_cli({"tokenize", "--tokenizer", path, "--jsonl", jsonl.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            json(t.encode("one")).dump() + "\n" + json(t.encode("two words\n")).dump() + "\n");

  std::string ids;
  for (int32_t id : t.encode("Hi there")) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  r = coreml::test::run_cli({"detokenize", "--tokenizer", path, "--ids", ids});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hi there\n");
  r = coreml::test::run_cli({"detokenize", "--tokenizer", path, "--ids", "1,x"});
  EXPECT_EQ(r.exit_code, 1);
  r = coreml::test::run_cli({"tokenize", "--tokenizer", path});
  EXPECT_EQ(r.exit_code, 2);
  fs::remove(jsonl);
}

}  // namespace
