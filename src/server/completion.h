// One completion request from prompt to response body, independent of the HTTP layer: builds the
// prompt (chat template or plain text), runs generation in a session, and writes the OpenAI
// response through a callback — one JSON object, or server-sent events when streaming.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "coreml/llm/model.h"
#include "openai_request.h"

namespace coreml::server {

enum class Endpoint { kChat, kCompletion };

struct Prompt {
  std::vector<int32_t> ids;
  bool starts_in_reasoning = false;  // the chat template opened a think block itself
};

struct CompletionOutcome {
  std::string finish_reason;  // stop, length, cancelled
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double decode_ms = 0;
};

// Writes response bytes; returns false when the client is gone.
using BodyWriter = std::function<bool(std::string_view bytes)>;

class CompletionRunner {
 public:
  CompletionRunner(std::shared_ptr<const llm::Model> model, std::string model_id);

  const std::string& model_id() const { return model_id_; }
  const llm::Model& model() const { return *model_; }

  // Throws ApiError 404 when `requested` names another model (empty = the served one).
  void check_model(const std::string& requested) const;
  // The rendered and tokenized prompt; ApiError 400 for template errors and for prompts longer
  // than the context (unless truncation is asked for).
  Prompt chat_prompt(const ChatRequest& request) const;
  Prompt completion_prompt(const CompletionRequest& request) const;

  // Generates in `sequence` and writes the whole response body through `write`. Stops early
  // (finish_reason "cancelled") when a write fails or `cancel` becomes true.
  CompletionOutcome run(Endpoint endpoint, const GenerationRequest& request, const Prompt& prompt,
                        llm::Sequence& sequence, const BodyWriter& write,
                        const std::atomic<bool>& cancel) const;

 private:
  void check_length(const GenerationRequest& request, const std::vector<int32_t>& ids) const;

  std::shared_ptr<const llm::Model> model_;
  std::string model_id_;
  bool has_think_tokens_ = false;
  mutable std::atomic<uint64_t> next_id_{0};
};

}  // namespace coreml::server
