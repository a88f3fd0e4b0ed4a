// Model::generate (sampling, stops, streaming, stats) and ChatSession.

#include <algorithm>
#include <chrono>

#include "anemll_model.h"
#include "coreml/error.h"
#include "runtime/process_memory.h"
#include "sampler.h"

namespace coreml::llm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

SamplerConfig resolve(const SamplingParams& asked, const SamplingParams& defaults) {
  SamplerConfig c;
  c.temperature = asked.temperature.value_or(defaults.temperature.value_or(0.0f));
  c.top_k = asked.top_k.value_or(defaults.top_k.value_or(0));
  c.top_p = asked.top_p.value_or(defaults.top_p.value_or(1.0f));
  c.min_p = asked.min_p.value_or(defaults.min_p.value_or(0.0f));
  c.repetition_penalty =
      asked.repetition_penalty.value_or(defaults.repetition_penalty.value_or(1.0f));
  c.presence_penalty = asked.presence_penalty.value_or(0.0f);
  c.frequency_penalty = asked.frequency_penalty.value_or(0.0f);
  c.seed = asked.seed.value_or(0);
  return c;
}

// Length of the longest suffix of `text` that is a proper prefix of some stop string: that much
// must be held back while streaming.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& stop : stops) {
    for (size_t len = std::min(stop.size() - 1, text.size()); len > hold; --len) {
      if (text.compare(text.size() - len, len, stop, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

}  // namespace

GenerationResult Model::generate(std::span<const int32_t> prompt_ids,
                                 const GenerateOptions& options) const {
  Sequence sequence(*this);
  return generate(sequence, prompt_ids, options);
}

GenerationResult Model::generate(Sequence& sequence, std::span<const int32_t> prompt_ids,
                                 const GenerateOptions& options) const {
  const int64_t context = impl_->info.context_length;
  if (prompt_ids.empty()) fail(ErrorCode::kInvalidArgument, "generate: the prompt is empty");
  // The prompt must leave room for the first decode step.
  if (static_cast<int64_t>(prompt_ids.size()) > context - 1) {
    if (!options.truncate) {
      fail(ErrorCode::kInvalidArgument, "generate: the prompt has ", prompt_ids.size(),
           " tokens but the context holds ", context, " (at most ", context - 1,
           " prompt tokens); shorten it or ask for truncation");
    }
    prompt_ids = prompt_ids.subspan(prompt_ids.size() - static_cast<size_t>(context - 1));
  }
  std::vector<std::string> stops;
  for (const auto& s : options.stop) {
    if (!s.empty()) stops.push_back(s);
  }

  GenerationResult result;
  result.prompt_token_ids.assign(prompt_ids.begin(), prompt_ids.end());
  result.stats.prompt_tokens = static_cast<int64_t>(prompt_ids.size());
  const int shifts_before = sequence.context_shifts();

  const auto start = Clock::now();
  const int64_t prefilled_before = sequence.prefilled_tokens();
  sequence.set_tokens(prompt_ids);
  const auto prefill_end = Clock::now();
  result.stats.prefilled_tokens = sequence.prefilled_tokens() - prefilled_before;
  const double prefill_ms = ms_between(start, prefill_end);
  if (prefill_ms > 0) result.stats.prefill_tok_s = result.stats.prefilled_tokens / prefill_ms * 1e3;

  Sampler sampler(resolve(options.sampling, impl_->defaults));
  IncrementalDecoder decoder = impl_->tokenizer->incremental_decoder({.skip_special_tokens = true});
  const auto& stop_ids = impl_->stop_ids;
  std::string text;    // everything decoded so far (cut at a stop string)
  size_t emitted = 0;  // bytes of `text` handed to the callback
  Clock::time_point first_token;
  result.finish_reason = "length";
  auto emit = [&](size_t upto, int32_t token) {
    std::string_view piece(text.data() + emitted, upto - emitted);
    emitted = upto;
    return !options.on_token || options.on_token(piece, token);
  };
  // Returns true when a stop string ended the text.
  auto cut_at_stop = [&]() {
    size_t best = std::string::npos;
    const size_t longest = std::max_element(stops.begin(), stops.end(), [](auto& a, auto& b) {
                             return a.size() < b.size();
                           })->size();
    const size_t from = emitted > longest ? emitted - longest : 0;
    for (const auto& stop : stops) best = std::min(best, text.find(stop, from));
    if (best == std::string::npos) return false;
    text.resize(best);
    return true;
  };

  int64_t steps_run = 0;
  for (int step = 0; step < options.max_tokens; ++step) {
    const StepOutput& out = sequence.next();
    ++steps_run;
    const int32_t token =
        out.logits.empty() ? out.argmax_token : sampler.sample(out.logits, sequence.tokens());
    if (step == 0) {
      first_token = Clock::now();
      result.stats.ttft_ms = ms_between(start, first_token);
    }
    sequence.accept(token);
    if (!options.ignore_eos && std::binary_search(stop_ids.begin(), stop_ids.end(), token)) {
      result.finish_reason = "stop";
      break;
    }
    result.token_ids.push_back(token);
    text += decoder.step(token);
    bool stopped = !stops.empty() && cut_at_stop();
    const size_t safe =
        stopped || stops.empty() ? text.size() : text.size() - held_back(text, stops);
    if (!emit(std::max(safe, emitted), token)) {
      result.finish_reason = "cancelled";
      break;
    }
    if (stopped) {
      result.finish_reason = "stop";
      break;
    }
  }
  if (result.finish_reason != "cancelled") {
    if (result.finish_reason == "length") {
      text += decoder.finish();
      if (!stops.empty() && cut_at_stop()) result.finish_reason = "stop";
    }
    if (text.size() > emitted) emit(text.size(), -1);
  }
  // A cancelled run returns what the caller saw.
  result.text = result.finish_reason == "cancelled" ? text.substr(0, emitted) : text;
  const auto end = Clock::now();
  result.stats.generated_tokens = static_cast<int64_t>(result.token_ids.size());
  const double decode_ms = ms_between(first_token, end);
  // Steps after the first one (the first is in the TTFT), the stop token included.
  const int64_t decoded = steps_run - 1;
  if (decoded > 0 && decode_ms > 0) result.stats.decode_tok_s = decoded / decode_ms * 1e3;
  result.stats.context_shifts = sequence.context_shifts() - shifts_before;
  result.stats.peak_rss_mb = static_cast<double>(runtime::peak_rss_bytes()) / (1024.0 * 1024.0);
  return result;
}

ChatSession::ChatSession(std::shared_ptr<const Model> model)
    : model_(std::move(model)), sequence_(*model_) {}

void ChatSession::set_system(std::string text) { system_ = std::move(text); }

void ChatSession::reset() { messages_ = nlohmann::ordered_json::array(); }

GenerationResult ChatSession::send(const std::string& user_text, const GenerateOptions& options) {
  const int64_t limit = model_->info().context_length - 1;
  std::vector<int32_t> ids;
  // Drop the oldest exchanges while the rendered conversation does not fit the context.
  while (true) {
    nlohmann::ordered_json conversation = nlohmann::ordered_json::array();
    if (!system_.empty()) conversation.push_back({{"role", "system"}, {"content", system_}});
    for (const auto& m : messages_) conversation.push_back(m);
    conversation.push_back({{"role", "user"}, {"content", user_text}});
    ids = model_->encode_chat(conversation, chat_options_);
    if (static_cast<int64_t>(ids.size()) <= limit || messages_.size() < 2) break;
    messages_.erase(messages_.begin(), messages_.begin() + 2);
  }
  GenerationResult result = model_->generate(sequence_, ids, options);
  messages_.push_back({{"role", "user"}, {"content", user_text}});
  messages_.push_back({{"role", "assistant"}, {"content", result.text}});
  last_stats_ = result.stats;
  return result;
}

}  // namespace coreml::llm
