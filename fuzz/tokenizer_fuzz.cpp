// Fuzzes tokenizer.json parsing (the input as a whole file) and encoding of arbitrary bytes with a
// fixed small tokenizer that has a byte-level BPE, a regex pre-tokenizer and added tokens.
#include <cstddef>
#include <cstdint>
#include <string>

#include "coreml/error.h"
#include "coreml/llm/tokenizer.h"

namespace {

const coreml::llm::Tokenizer& fixed_tokenizer() {
  static const auto tokenizer = coreml::llm::Tokenizer::from_json(R"({
    "added_tokens": [{"id": 7, "content": "<s>", "special": true, "lstrip": true, "rstrip": true,
                      "normalized": false, "single_word": false},
                     {"id": 8, "content": "ab", "special": false, "lstrip": false,
                      "rstrip": false, "normalized": true, "single_word": true}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)|\\p{L}+|\\p{N}"}, "behavior": "Isolated",
       "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [7], "tokens": ["<s>"]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġa": 4, "c": 5, "abc": 6},
              "merges": ["a b", "Ġ a", "ab c"], "byte_fallback": false, "unk_token": null}
  })");
  return tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    auto tokenizer = coreml::llm::Tokenizer::from_json(bytes);
    auto ids = tokenizer.encode("Hello wörld 123 <s> ab", {.add_special_tokens = true});
    (void)tokenizer.decode(ids);
  } catch (const coreml::Error&) {
  }
  try {
    const auto& tokenizer = fixed_tokenizer();
    auto ids = tokenizer.encode(bytes, {.add_special_tokens = true});
    std::string text = tokenizer.decode(ids);
    auto decoder = tokenizer.incremental_decoder();
    for (int32_t id : ids) text += decoder.step(id);
  } catch (const coreml::Error&) {
  }
  return 0;
}
