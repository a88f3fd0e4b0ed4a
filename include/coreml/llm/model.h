// ANEMLL multi-part LLMs (embeddings + FFN chunks + LM head, one shared KV state) → text.
//
//   auto model = coreml::llm::Model::load("anemll/anemll-Qwen-Qwen3-0.6B-ctx512_0.3.4");
//   auto ids = model->encode_chat({{{"role", "user"}, {"content", "Hi"}}});
//   auto result = model->generate(ids, {.max_tokens = 64});
//   coreml::llm::ChatSession chat(model);
//   chat.send("Hello", options);
//
// The generation loop is ANEMLL's own (their reference runner): prefill in batches of B,
// the remainder one by one through `infer` (0.3.4 models: one zero-padded prefill batch), decode
// by re-running the last token, and a context shift when the window is full.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coreml/error.h"
#include "coreml/export.h"
#include "coreml/llm/chat_template.h"
#include "coreml/llm/sampling.h"
#include "coreml/llm/tokenizer.h"
#include "coreml/model.h"

COREML_PUBLIC_BEGIN

namespace coreml::llm {

struct LoadOptions {
  int threads = 0;  // runtime threads; 0 = the number of cores
  // Where every part (embeddings, FFN chunks, LM head) runs; see coreml::LoadOptions.
  Backend backend = Backend::kAuto;
  ComputeUnits compute_units = ComputeUnits::kAll;
};

// The sizes of a loaded model, read from the parts and checked against meta.yaml.
struct ModelInfo {
  std::string name;
  std::string version;       // meta.yaml model_info.version (0.3.4, 0.3.5, ...)
  std::string architecture;  // qwen3, qwen25, llama, ...
  int64_t hidden_size = 0;
  int64_t batch_size = 0;      // B: tokens per prefill call
  int64_t context_length = 0;  // C
  int64_t vocab_size = 0;
  int64_t lm_head_splits = 0;
  int64_t num_chunks = 0;
  bool argmax_in_model = false;
  bool prefill_dynamic_slice = false;
  bool monolithic = false;     // one package (input_ids -> logits) instead of parts
  int64_t sliding_window = 0;  // Gemma 3: local layers' window (0 = none)
  bool rotates = false;        // uses infer_rotate/prefill_rotate from sliding_window on
  bool update_mask_prefill = false;
};

// The outcome of one network step: logits (fp32, vocab entries), or for in-model argmax heads
// only the chosen token.
struct StepOutput {
  std::vector<float> logits;  // empty with an in-model argmax head
  int32_t argmax_token = -1;  // set with an in-model argmax head
};

class Model;

// One conversation's KV cache and token window. Positions of window tokens are their indices.
// Several threads may each drive their own Sequence of one Model at once: the network steps are
// serialized inside the Model (they share its run plans), the KV states are not shared.
class Sequence {
 public:
  explicit Sequence(const Model& model);
  Sequence(Sequence&&) noexcept;
  Sequence& operator=(Sequence&&) noexcept;
  ~Sequence();

  const std::vector<int32_t>& tokens() const;
  // How many window tokens have their KV written.
  size_t processed() const;
  // Replaces the window with `ids`, keeping the KV of the longest common prefix, then prefills.
  void set_tokens(std::span<const int32_t> ids);
  // Appends ids and prefills them.
  void extend(std::span<const int32_t> ids);
  // One decode step: shifts the context when full, runs the last token, returns the next logits
  // (valid until the next step; a steady decode loop allocates nothing).
  const StepOutput& next();
  // Appends a chosen token (its KV is written by the next step).
  void accept(int32_t token);
  void reset();

  int context_shifts() const;        // so far
  int64_t prefilled_tokens() const;  // tokens run by prefill (batches and remainder), so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t prefilled_tokens = 0;  // prompt tokens actually run (less with a reused prefix)
  int64_t generated_tokens = 0;
  double ttft_ms = 0;
  double prefill_tok_s = 0;
  double decode_tok_s = 0;
  double peak_rss_mb = 0;
  int context_shifts = 0;
};

struct GenerationResult {
  std::string text;
  std::vector<int32_t> token_ids;  // generated, the stop token excluded
  std::vector<int32_t> prompt_token_ids;
  std::string finish_reason;  // "stop", "length" or "cancelled"
  GenerationStats stats;
};

// Gets each new UTF-8-safe text piece (possibly empty) and the token id; return false to cancel.
using TokenCallback = std::function<bool(std::string_view piece, int32_t token)>;

struct GenerateOptions {
  int max_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings (not included in the text)
  bool ignore_eos = false;
  bool truncate = false;  // prompt longer than the context: keep its tail instead of failing
  TokenCallback on_token;
};

struct ChatOptions {
  std::optional<bool> enable_thinking;  // Qwen 3; unset → the template's default
};

class Model {
 public:
  // A folder or a Hub repo id (resolved through coreml::hub::resolve_model_path).
  static std::shared_ptr<Model> load(const std::string& folder_or_repo_id,
                                     const LoadOptions& options = {});
  ~Model();

  const ModelInfo& info() const;
  Backend backend() const;  // where the parts run
  const std::filesystem::path& folder() const;
  const Tokenizer& tokenizer() const;
  const ChatTemplate* chat_template() const;  // null when the folder has none
  // End-of-sequence ids: tokenizer + generation config + end-of-turn tokens in the vocab.
  const std::vector<int32_t>& stop_token_ids() const;
  // Defaults from generation_config.json / meta.yaml recommended_sampling.
  const SamplingParams& default_sampling() const;
  // Per-op-type timing summed over every part, for the predictions that follow (costs a clock
  // read per op while on).
  void set_profiling(bool on) const;
  std::vector<coreml::OpTiming> profile() const;

  // Renders messages with the chat template (generation prompt added) and tokenizes them.
  std::vector<int32_t> encode_chat(const nlohmann::ordered_json& messages,
                                   const ChatOptions& options = {}) const;

  // Generates after `prompt_ids` in `sequence` (its window is replaced by the prompt; a common
  // prefix with the previous window keeps its KV).
  GenerationResult generate(Sequence& sequence, std::span<const int32_t> prompt_ids,
                            const GenerateOptions& options = {}) const;
  GenerationResult generate(std::span<const int32_t> prompt_ids,
                            const GenerateOptions& options = {}) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A multi-turn chat keeping the KV state and token history between turns.
class ChatSession {
 public:
  explicit ChatSession(std::shared_ptr<const Model> model);
  void set_system(std::string text);  // empty → none; takes effect on the next turn
  void set_thinking(std::optional<bool> enabled) { chat_options_.enable_thinking = enabled; }
  void reset();  // forget messages (the KV is reused where the new prompt allows)
  // Adds a user message, generates, adds the reply to the history. When the conversation no
  // longer fits the context, the oldest user/assistant exchanges are dropped.
  GenerationResult send(const std::string& user_text, const GenerateOptions& options = {});

  const nlohmann::ordered_json& messages() const { return messages_; }
  const Sequence& sequence() const { return sequence_; }
  const GenerationStats& last_stats() const { return last_stats_; }

 private:
  std::shared_ptr<const Model> model_;
  Sequence sequence_;
  std::string system_;
  ChatOptions chat_options_;
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
  GenerationStats last_stats_;
};

}  // namespace coreml::llm

COREML_PUBLIC_END
