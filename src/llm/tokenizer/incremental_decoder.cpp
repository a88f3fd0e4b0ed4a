// Streaming decode: decode a small window of recent ids and emit only what extends the text
// already emitted for that window's context.
#include "coreml/llm/tokenizer.h"
#include "llm/tokenizer/utf8.h"

namespace coreml::llm {

namespace {
// Ids kept as context after emitting; enough for decoders' neighbour rules ("do not" cleanup).
constexpr size_t kContextIds = 4;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

bool ends_with_replacement(const std::string& text) {
  return text.size() >= kReplacement.size() &&
         text.compare(text.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0;
}
}  // namespace

IncrementalDecoder::IncrementalDecoder(Tokenizer tokenizer, DecodeOptions options)
    : tokenizer_(std::move(tokenizer)), options_(options) {}

std::string IncrementalDecoder::step(int32_t id) {
  window_.push_back(id);
  std::string text = tokenizer_.decode(window_, options_);
  // An unfinished character decodes to a trailing U+FFFD: wait for more ids.
  if (text.size() <= emitted_text_.size() || ends_with_replacement(text)) return {};
  if (text.compare(0, emitted_text_.size(), emitted_text_) != 0) {
    // The decoder rewrote earlier context (rare cleanup rules); emit only what is new by length.
  }
  std::string fresh = text.substr(emitted_text_.size());
  // Keep the last few ids as context for the next step, cut where decoding the kept ids alone
  // reproduces the end of the text: not inside a byte sequence (it would decode to U+FFFD) nor
  // before a "##" continuation piece.
  size_t cut = window_.size() > kContextIds ? window_.size() - kContextIds : 0;
  std::string context;
  for (;; --cut) {
    context = tokenizer_.decode(std::span(window_).subspan(cut), options_);
    bool suffix = context.size() <= text.size() &&
                  text.compare(text.size() - context.size(), context.size(), context) == 0;
    if ((suffix && context.compare(0, kReplacement.size(), kReplacement) != 0) || cut == 0) break;
  }
  window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(cut));
  emitted_ = window_.size();
  emitted_text_ = cut == 0 ? text : context;
  return fresh;
}

std::string IncrementalDecoder::finish() {
  std::string text = tokenizer_.decode(window_, options_);
  std::string fresh = text.size() > emitted_text_.size() ? text.substr(emitted_text_.size()) : "";
  window_.clear();
  emitted_ = 0;
  emitted_text_.clear();
  return fresh;
}

}  // namespace coreml::llm
