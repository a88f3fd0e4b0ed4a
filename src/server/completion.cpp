// See completion.h.
#include "completion.h"

#include <chrono>
#include <ctime>
#include <optional>

#include "api_error.h"
#include "coreml/error.h"
#include "reasoning_split.h"

namespace coreml::server {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Generated text is valid UTF-8 (the decoder replaces broken sequences), but the replace handler
// keeps a bad byte from ever turning into an exception mid-response.
std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sse(const Json& value) { return "data: " + dump(value) + "\n\n"; }

bool ends_with_think_open(const std::string& prompt) {
  size_t end = prompt.size();
  while (end > 0 && (prompt[end - 1] == '\n' || prompt[end - 1] == ' ')) --end;
  constexpr std::string_view kOpen = "<think>";
  return end >= kOpen.size() &&
         std::string_view(prompt).substr(end - kOpen.size(), kOpen.size()) == kOpen;
}

}  // namespace

CompletionRunner::CompletionRunner(std::shared_ptr<const llm::Model> model, std::string model_id)
    : model_(std::move(model)), model_id_(std::move(model_id)) {
  const auto& tokenizer = model_->tokenizer();
  has_think_tokens_ = tokenizer.token_to_id("<think>") && tokenizer.token_to_id("</think>");
}

void CompletionRunner::check_model(const std::string& requested) const {
  if (!requested.empty() && requested != model_id_) {
    throw ApiError(
        404, "model_not_found",
        "the model '" + requested + "' does not exist; this server serves '" + model_id_ + "'",
        "model");
  }
}

void CompletionRunner::check_length(const GenerationRequest& request,
                                    const std::vector<int32_t>& ids) const {
  const int64_t context = model_->info().context_length;
  if (ids.empty()) invalid_field("prompt", "is empty");
  if (static_cast<int64_t>(ids.size()) > context - 1 && !request.truncate) {
    throw ApiError(400, "context_length_exceeded",
                   "the prompt has " + std::to_string(ids.size()) +
                       " tokens but this model's context holds " + std::to_string(context) +
                       " (at most " + std::to_string(context - 1) +
                       " prompt tokens); shorten it or send \"truncate\": true",
                   "messages");
  }
}

Prompt CompletionRunner::chat_prompt(const ChatRequest& request) const {
  const llm::ChatTemplate* chat_template = model_->chat_template();
  if (!chat_template) {
    throw ApiError(400, "no_chat_template",
                   "this model has no chat template; use /v1/completions with a plain prompt");
  }
  llm::RenderOptions render;
  render.add_generation_prompt = true;
  render.tools = request.tools;
  render.extra = request.template_kwargs;
  std::string text;
  try {
    text = chat_template->render(request.messages, render);
  } catch (const coreml::Error& e) {
    // raise_exception() in a template: the template's own words about the conversation.
    throw ApiError(400, "template_error", std::string("chat template: ") + e.what(), "messages");
  }
  Prompt prompt;
  try {
    prompt.ids = model_->tokenizer().encode(text, {.add_special_tokens = false});
  } catch (const coreml::Error& e) {
    throw ApiError(400, "invalid_value", e.what(), "messages");
  }
  prompt.starts_in_reasoning = has_think_tokens_ && ends_with_think_open(text);
  check_length(request, prompt.ids);
  return prompt;
}

Prompt CompletionRunner::completion_prompt(const CompletionRequest& request) const {
  Prompt prompt;
  if (request.prompt_text) {
    try {
      prompt.ids = model_->tokenizer().encode(*request.prompt_text, {.add_special_tokens = true});
    } catch (const coreml::Error& e) {
      throw ApiError(400, "invalid_value", e.what(), "prompt");
    }
  } else {
    const auto vocab = model_->info().vocab_size;
    for (size_t i = 0; i < request.prompt_ids.size(); ++i) {
      if (request.prompt_ids[i] >= vocab) {
        invalid_field(
            "prompt[" + std::to_string(i) + "]",
            "is not a token id of this model (vocabulary size " + std::to_string(vocab) + ")");
      }
    }
    prompt.ids = request.prompt_ids;
  }
  check_length(request, prompt.ids);
  return prompt;
}

CompletionOutcome CompletionRunner::run(Endpoint endpoint, const GenerationRequest& request,
                                        const Prompt& prompt, llm::Sequence& sequence,
                                        const BodyWriter& write,
                                        const std::atomic<bool>& cancel) const {
  const bool chat = endpoint == Endpoint::kChat;
  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(std::time(nullptr)) + "-" +
                         std::to_string(next_id_.fetch_add(1));
  const auto created = static_cast<int64_t>(std::time(nullptr));
  const int64_t context = model_->info().context_length;

  llm::GenerateOptions options;
  options.sampling = request.sampling;
  options.stop = request.stop;
  options.truncate = request.truncate;
  options.ignore_eos = request.ignore_eos;
  // Unset: until the context is full (longer asks shift the context, as `coreml generate` does).
  const int64_t prompt_kept =
      std::min<int64_t>(static_cast<int64_t>(prompt.ids.size()), context - 1);
  options.max_tokens = request.max_tokens.value_or(static_cast<int>(context - prompt_kept));

  // Chat replies of reasoning models: the think block goes to reasoning_content.
  std::optional<ReasoningSplitter> splitter;
  if (chat && has_think_tokens_) splitter.emplace(prompt.starts_in_reasoning);
  std::string content, reasoning;
  bool client_gone = false;
  auto last_write = Clock::now();

  auto chunk = [&](Json delta, const Json& finish_reason) {
    Json choice;
    choice["index"] = 0;
    if (chat) {
      choice["delta"] = std::move(delta);
    } else {
      choice["text"] = delta.value("content", "");
    }
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = finish_reason;
    Json out;
    out["id"] = id;
    out["object"] = chat ? "chat.completion.chunk" : "text_completion";
    out["created"] = created;
    out["model"] = model_id_;
    out["choices"] = Json::array({std::move(choice)});
    return out;
  };
  auto send = [&](const std::string& bytes) {
    if (!client_gone && !write(bytes)) client_gone = true;
    last_write = Clock::now();
    return !client_gone;
  };
  auto send_delta = [&](const ReasoningSplitter::Delta& d) {
    if (!request.stream) {
      reasoning += d.reasoning;
      content += d.content;
      return true;
    }
    bool ok = true;
    if (!d.reasoning.empty()) ok = send(sse(chunk({{"reasoning_content", d.reasoning}}, nullptr)));
    if (ok && !d.content.empty()) ok = send(sse(chunk({{"content", d.content}}, nullptr)));
    return ok;
  };

  if (request.stream && chat) {
    if (!send(sse(chunk({{"role", "assistant"}, {"content", ""}}, nullptr)))) {
      return {"cancelled", static_cast<int64_t>(prompt.ids.size())};
    }
  }
  options.on_token = [&](std::string_view piece, int32_t) {
    if (cancel.load(std::memory_order_relaxed)) return false;
    if (!piece.empty()) {
      ReasoningSplitter::Delta d;
      if (splitter) {
        d = splitter->feed(piece);
      } else {
        d.content = std::string(piece);
      }
      if (!send_delta(d)) return false;
    }
    // Without streaming nothing is written until the end, and only a failed write tells that
    // the client left (cpp-httplib offers no other way): a space now and then, which JSON allows
    // before the object, notices a closed connection while generating.
    if (!request.stream && Clock::now() - last_write > std::chrono::milliseconds(500)) {
      return send(" ");
    }
    return true;
  };

  const auto start = Clock::now();
  llm::GenerationResult result = model_->generate(sequence, prompt.ids, options);
  CompletionOutcome outcome;
  outcome.finish_reason = result.finish_reason;
  outcome.prompt_tokens = result.stats.prompt_tokens;
  outcome.cached_tokens = result.stats.prompt_tokens - result.stats.prefilled_tokens;
  outcome.completion_tokens = result.stats.generated_tokens;
  outcome.decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (result.finish_reason == "cancelled" || client_gone) {
    outcome.finish_reason = "cancelled";
    return outcome;
  }
  if (splitter && !send_delta(splitter->finish())) {
    outcome.finish_reason = "cancelled";
    return outcome;
  }

  Json usage;
  usage["prompt_tokens"] = outcome.prompt_tokens;
  usage["completion_tokens"] = outcome.completion_tokens;
  usage["total_tokens"] = outcome.prompt_tokens + outcome.completion_tokens;
  usage["prompt_tokens_details"] = {{"cached_tokens", outcome.cached_tokens}};

  if (request.stream) {
    bool ok = send(sse(chunk(Json::object(), result.finish_reason)));
    if (ok && request.include_usage) {
      Json last = chunk(Json::object(), nullptr);
      last["choices"] = Json::array();
      last["usage"] = usage;
      ok = send(sse(last));
    }
    if (ok) ok = send("data: [DONE]\n\n");
    if (!ok) outcome.finish_reason = "cancelled";
    return outcome;
  }

  Json choice;
  choice["index"] = 0;
  if (chat) {
    Json message;
    message["role"] = "assistant";
    message["content"] = splitter ? content : result.text;
    if (splitter && !reasoning.empty()) {
      // Streaming cannot know where reasoning ends before it does; the whole text can.
      while (!reasoning.empty() && (reasoning.back() == '\n' || reasoning.back() == ' ' ||
                                    reasoning.back() == '\r' || reasoning.back() == '\t')) {
        reasoning.pop_back();
      }
      message["reasoning_content"] = reasoning;
    }
    choice["message"] = std::move(message);
  } else {
    choice["text"] = result.text;
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = result.finish_reason;
  Json out;
  out["id"] = id;
  out["object"] = chat ? "chat.completion" : "text_completion";
  out["created"] = created;
  out["model"] = model_id_;
  out["choices"] = Json::array({std::move(choice)});
  out["usage"] = usage;
  if (!send(dump(out))) outcome.finish_reason = "cancelled";
  return outcome;
}

}  // namespace coreml::server
