// Fuzzes `coreml serve`'s request parsing (chat, completions, tokenize, detokenize bodies straight
// from the network) and the reasoning split of streamed text. Bad input must end in
// server::ApiError (a 400 to the client); any other exception, crash or hang is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/api_error.h"
#include "server/openai_request.h"
#include "server/reasoning_split.h"

namespace {

template <typename Parse>
void parse_or_reject(Parse parse, std::string_view body) {
  try {
    parse(body);
  } catch (const coreml::server::ApiError& e) {
    // Every rejection must serialize (messages quote the client's field names and values).
    (void)e.body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  parse_or_reject([](std::string_view b) { coreml::server::parse_chat_request(b); }, body);
  parse_or_reject([](std::string_view b) { coreml::server::parse_completion_request(b); }, body);
  parse_or_reject([](std::string_view b) { coreml::server::parse_tokenize_request(b); }, body);
  parse_or_reject([](std::string_view b) { coreml::server::parse_detokenize_request(b); }, body);

  // The same bytes as generated text, in two pieces cut where the first byte says.
  const size_t cut = size ? data[0] % (size + 1) : 0;
  coreml::server::ReasoningSplitter splitter(size && (data[0] & 1));
  std::string all;
  for (std::string_view piece : {body.substr(0, cut), body.substr(cut)}) {
    auto d = splitter.feed(piece);
    all += d.reasoning + d.content;
  }
  auto d = splitter.finish();
  all += d.reasoning + d.content;
  // Only tags and whitespace are dropped: the output is never longer than the input.
  if (all.size() > size) __builtin_trap();
  return 0;
}
