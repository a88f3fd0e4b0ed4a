// ANEMLL 0.3.5 layouts beyond the goldens (llm_golden_test): what a loaded Gemma 3 / monolithic
// model reports, when a sliding-window cache can be reused, the Gemma chat template against
// jinja2's rendering, and hostile meta.yaml / package combinations, each a coreml::Error naming
// the file and the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "coreml/error.h"
#include "coreml/llm/model.h"

namespace fs = std::filesystem;
using coreml::llm::Model;
using coreml::llm::Sequence;

namespace {

const std::string kData = COREML_TEST_DATA_DIR "/anemll/";

std::shared_ptr<Model> load(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Model>> cache;
  auto& slot = cache[name];
  if (!slot) slot = Model::load(kData + name);
  return slot;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string replaced(const std::string& text, const std::string& pattern, const std::string& with) {
  const std::string out = std::regex_replace(text, std::regex(pattern), with);
  EXPECT_NE(out, text) << "pattern not found: " << pattern;
  return out;
}

// A temporary copy of a test model: files linked, except meta.yaml (rewritten) and the parts
// named in `edit` (copied, then changed by the callback).
class ModelCopy {
 public:
  ModelCopy(const std::string& name, const std::string& meta,
            const std::map<std::string, std::function<void(const fs::path&)>>& edit = {}) {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("coreml_llm035_" + std::to_string(getpid()) + "_" + std::to_string(++counter));
    fs::create_directories(dir_);
    for (const auto& entry : fs::directory_iterator(kData + name)) {
      const std::string file = entry.path().filename().string();
      if (file == "meta.yaml") continue;
      if (auto e = edit.find(file); e != edit.end()) {
        fs::copy(entry.path(), dir_ / file, fs::copy_options::recursive);
        e->second(dir_ / file);
      } else {
        fs::create_symlink(entry.path(), dir_ / file);
      }
    }
    std::ofstream(dir_ / "meta.yaml") << meta;
  }
  ~ModelCopy() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string error() const {
    try {
      Model::load(dir_.string());
    } catch (const coreml::Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

// Rewrites model.mil of a copied .mlmodelc part.
std::function<void(const fs::path&)> edit_mil(const std::string& pattern, const std::string& with) {
  return [pattern, with](const fs::path& part) {
    const fs::path mil = part / "model.mil";
    const std::string text = read(mil);
    std::ofstream(mil, std::ios::trunc) << replaced(text, pattern, with);
  };
}

// Changes one function of a copied .mlmodelc part: its entry in metadata.json (where the
// description comes from) and, for a rename, its header in model.mil.
std::function<void(const fs::path&)> edit_function(
    const std::string& function, const std::function<void(nlohmann::ordered_json&)>& change,
    const std::string& new_name = "") {
  return [=](const fs::path& part) {
    auto doc = nlohmann::ordered_json::parse(read(part / "metadata.json"));
    for (auto& f : doc[0]["functions"]) {
      if (f["name"] == function) change(f);
    }
    std::ofstream(part / "metadata.json", std::ios::trunc) << doc.dump(1);
    if (!new_name.empty()) {
      edit_mil("func " + function + "<", "func " + new_name + "<")(part);
      for (auto& f : doc[0]["functions"]) {
        if (f["name"] == function) f["name"] = new_name;
      }
      std::ofstream(part / "metadata.json", std::ios::trunc) << doc.dump(1);
    }
  };
}

const char* kChunk1 = "gemma3_FFN_PF_lut4_chunk_01of02.mlmodelc";
const char* kChunk2 = "gemma3_FFN_PF_lut4_chunk_02of02.mlmodelc";

TEST(Anemll035, WhatTheModelsReport) {
  const auto& gemma = load("tiny-gemma3")->info();
  EXPECT_EQ(gemma.architecture, "gemma3_text");
  EXPECT_EQ(gemma.sliding_window, 16);
  EXPECT_TRUE(gemma.rotates);
  EXPECT_FALSE(gemma.monolithic);
  EXPECT_EQ(gemma.context_length, 64);
  EXPECT_EQ(gemma.vocab_size, 1024);
  EXPECT_EQ(gemma.lm_head_splits, 16);
  // <end_of_turn> (and the eos of generation_config.json) stop generation.
  const auto end_of_turn = load("tiny-gemma3")->tokenizer().token_to_id("<end_of_turn>");
  ASSERT_TRUE(end_of_turn.has_value());
  const auto& stops = load("tiny-gemma3")->stop_token_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), *end_of_turn), stops.end());

  const auto& mono = load("tiny-mono")->info();
  EXPECT_TRUE(mono.monolithic);
  EXPECT_FALSE(mono.rotates);
  EXPECT_FALSE(mono.update_mask_prefill);
  EXPECT_FALSE(mono.argmax_in_model);
  EXPECT_EQ(mono.vocab_size, 1024);
  EXPECT_EQ(mono.batch_size, 8);
  const auto& masked = load("tiny-mono-umask-argmax")->info();
  EXPECT_TRUE(masked.update_mask_prefill);
  EXPECT_TRUE(masked.argmax_in_model);
  EXPECT_EQ(masked.vocab_size, 1024);
  // Gemma 3 in one package: four functions, two states, update_mask prefill.
  const auto& gemma_mono = load("tiny-gemma3-mono")->info();
  EXPECT_TRUE(gemma_mono.monolithic);
  EXPECT_TRUE(gemma_mono.rotates);
  EXPECT_EQ(gemma_mono.sliding_window, 16);
  EXPECT_TRUE(gemma_mono.update_mask_prefill);
}

// The documented reuse rule for a rotating cache: resume at the last batch boundary of the
// cached prefix while nothing has rotated; after a rotation, prefill the whole window again.
TEST(Anemll035, SlidingWindowCacheReuse) {
  auto model = load("tiny-gemma3");
  const int64_t batch = model->info().batch_size;  // 8, window 16
  auto run = [&](Sequence& s, std::vector<int32_t> ids, int steps) {
    s.extend(ids);
    for (int i = 0; i < steps; ++i) {
      const auto& out = s.next();
      s.accept(out.logits.empty()
                   ? out.argmax_token
                   : static_cast<int32_t>(std::max_element(out.logits.begin(), out.logits.end()) -
                                          out.logits.begin()));
    }
  };
  Sequence inside(*model);
  run(inside, {11, 12, 13, 14, 15}, 4);  // 9 tokens, 8 run: never reached the window
  int64_t before = inside.prefilled_tokens();
  run(inside, std::vector<int32_t>(12, 7), 0);  // 21 tokens: 8 kept (one batch)
  EXPECT_EQ(inside.prefilled_tokens() - before, 21 - batch);

  Sequence past(*model);
  run(past, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}, 8);  // decoding rotated the cache
  before = past.prefilled_tokens();
  run(past, std::vector<int32_t>(7, 9), 0);
  EXPECT_EQ(past.prefilled_tokens() - before, 26);  // everything again

  // A plain model (no window) keeps every token it ran.
  Sequence mono(*load("tiny-mono"));
  run(mono, {11, 12, 13, 14, 15}, 4);
  before = mono.prefilled_tokens();
  run(mono, std::vector<int32_t>(12, 7), 0);
  EXPECT_EQ(mono.prefilled_tokens() - before, 13);
}

TEST(Anemll035, GemmaChatTemplateRendersAsJinja2) {
  const auto doc =
      nlohmann::ordered_json::parse(read(kData + "tiny-gemma3/goldens/chat_template.json"));
  const auto* tmpl = load("tiny-gemma3")->chat_template();
  ASSERT_NE(tmpl, nullptr);
  for (const auto& c : doc["cases"]) {
    coreml::llm::RenderOptions options;
    options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    EXPECT_EQ(tmpl->render(c["messages"], options), c["expected"].get<std::string>());
  }
  // Roles that do not alternate are the template's own error.
  const nlohmann::ordered_json bad = nlohmann::ordered_json::array(
      {{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", "b"}}});
  EXPECT_THROW(tmpl->render(bad, {}), coreml::Error);
}

TEST(Anemll035, GenerateAndChatRunOnBothLayouts) {
  for (const char* name :
       {"tiny-gemma3", "tiny-mono", "tiny-mono-umask-argmax", "tiny-gemma3-mono"}) {
    SCOPED_TRACE(name);
    auto model = load(name);
    coreml::llm::ChatSession chat(model);
    coreml::llm::GenerateOptions options;
    options.max_tokens = 30;  // with the prompt, past the window of 16
    options.sampling.temperature = 0.0f;
    options.ignore_eos = true;
    const auto first = chat.send("Hello there, how are you today?", options);
    EXPECT_EQ(first.token_ids.size(), 30u);
    const auto second = chat.send("And tomorrow?", options);
    EXPECT_EQ(second.token_ids.size(), 30u);
    // The second turn may have dropped the first exchange to fit the context of 64.
    EXPECT_GE(chat.messages().size(), 2u);
  }
}

std::string gemma_meta() { return read(kData + "tiny-gemma3/meta.yaml"); }
std::string mono_meta() { return read(kData + "tiny-mono/meta.yaml"); }

TEST(Anemll035, HostileSlidingWindow) {
  for (const std::string value : {"0", "-16", "99999999999"}) {
    const ModelCopy copy("tiny-gemma3",
                         replaced(gemma_meta(), "sliding_window: 16", "sliding_window: " + value));
    const std::string error = copy.error();
    EXPECT_HAS(error, "meta.yaml model_info.parameters");
    EXPECT_HAS(error, "'sliding_window' must be in 1..1048576, got " + value);
  }
  const ModelCopy other("tiny-gemma3",
                        replaced(gemma_meta(), "sliding_window: 16", "sliding_window: 8"));
  EXPECT_HAS(other.error(),
             "meta.yaml: sliding_window is 8 but the state "
             "'model_model_kv_cache_local'");
  const ModelCopy text("tiny-gemma3",
                       replaced(gemma_meta(), "sliding_window: 16", "sliding_window: wide"));
  EXPECT_HAS(text.error(), "key 'sliding_window' has the wrong type");
  // Without the key the window comes from the local state.
  const ModelCopy absent("tiny-gemma3", replaced(gemma_meta(), " *sliding_window: 16\n", ""));
  EXPECT_EQ(absent.error(), "(no error)");
}

TEST(Anemll035, HostileGemmaPackages) {
  // A chunk without infer_rotate although the window is shorter than the context.
  const ModelCopy no_rotate("tiny-gemma3", gemma_meta(),
                            {{kChunk2, edit_function(
                                           "infer_rotate", [](auto&) {}, "infer_spin")}});
  std::string error = no_rotate.error();
  EXPECT_HAS(error, kChunk2);
  EXPECT_HAS(error, "no function 'infer_rotate'");
  EXPECT_HAS(error, "sliding_window 16 < context_length 64");
  // A function whose global cache is shorter than the others'.
  const ModelCopy shapes("tiny-gemma3", gemma_meta(),
                         {{kChunk1, edit_function("prefill", [](nlohmann::ordered_json& f) {
                             f["stateSchema"][1]["shape"] = "[2, 2, 32, 16]";
                           })}});
  error = shapes.error();
  EXPECT_HAS(error, kChunk1);
  EXPECT_HAS(error, "function 'prefill' declares other KV-cache states");
  // A function with one state only.
  const ModelCopy one_state("tiny-gemma3", gemma_meta(),
                            {{kChunk2, edit_function("infer_rotate", [](nlohmann::ordered_json& f) {
                                f["stateSchema"].erase(1);
                              })}});
  EXPECT_HAS(one_state.error(), "function 'infer_rotate' declares other KV-cache states");
  // No prefill at all.
  const ModelCopy no_prefill("tiny-gemma3", gemma_meta(),
                             {{kChunk1, edit_function(
                                            "prefill", [](auto&) {}, "warmup")}});
  EXPECT_HAS(no_prefill.error(), "expected a function named 'prefill'");
}

TEST(Anemll035, HostileMonolithicMeta) {
  const std::string meta = mono_meta();
  EXPECT_HAS(ModelCopy("tiny-mono", replaced(meta, " *monolithic_model: .*\n", "")).error(),
             "missing required key 'monolithic_model'");
  EXPECT_HAS(ModelCopy("tiny-mono", replaced(meta, "monolithic_model: .*\n",
                                             "monolithic_model: ../../etc/x.mlmodelc\n"))
                 .error(),
             "'monolithic_model' must be a file name in the model folder");
  EXPECT_HAS(ModelCopy("tiny-mono", replaced(meta, "monolithic_model: .*\n",
                                             "monolithic_model: other.mlmodelc\n"))
                 .error(),
             "monolithic_model part 'other' not found");
  EXPECT_HAS(ModelCopy("tiny-mono", replaced(meta, "      - prefill\n", "")).error(),
             "'functions' must list 'prefill'");
  EXPECT_HAS(ModelCopy("tiny-mono", replaced(meta, "      - prefill\n",
                                             "      - prefill\n      - infer_rotate\n"))
                 .error(),
             "'functions' lists 'infer_rotate' but");
  EXPECT_HAS(ModelCopy("tiny-mono", replaced(meta, "      - prefill\n",
                                             "      - prefill\n"
                                             "      - launch\n"))
                 .error(),
             "'functions' lists unknown function 'launch'");
  EXPECT_HAS(
      ModelCopy("tiny-mono", replaced(meta, "    functions:", "    functions: 7\n    x:")).error(),
      "key 'functions' has the wrong type");
  EXPECT_HAS(ModelCopy("tiny-mono", meta + "    update_mask_prefill: true\n").error(),
             "update_mask_prefill is true but 'prefill'");
  EXPECT_HAS(ModelCopy("tiny-mono", meta + "    argmax_in_model: true\n").error(),
             "argmax_in_model is true but");
  EXPECT_HAS(
      ModelCopy("tiny-mono", replaced(meta, "context_length: 64", "context_length: 32")).error(),
      "context_length is 32 but the parts' causal_mask is 64 wide");
}

}  // namespace
