// Hugging Face `tokenizer.json` tokenizers: text <-> token ids, matching the `tokenizers` library.
//
//   auto tokenizer = coreml::llm::Tokenizer::from_file("model_dir/tokenizer.json");
//   std::vector<int32_t> ids = tokenizer.encode("Hello", {.add_special_tokens = true});
//   std::string text = tokenizer.decode(ids, {.skip_special_tokens = true});
//
// The full pipeline is supported: added tokens, normalizer, pre-tokenizer, model (BPE, WordPiece,
// Unigram), post-processor and decoder. Offsets, truncation and padding are not. A Tokenizer is
// immutable after loading and safe to use from several threads at once (the BPE word cache is
// guarded by a mutex); copies share the loaded data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

namespace coreml::llm {

struct EncodeOptions {
  // Apply the post-processor (e.g. add BOS/[CLS]/[SEP]) as tokenizers' add_special_tokens does.
  bool add_special_tokens = false;
};

struct DecodeOptions {
  bool skip_special_tokens = false;
};

// A special token named in tokenizer_config.json; `id` is empty when the vocabulary lacks it.
struct SpecialToken {
  std::string content;
  std::optional<int32_t> id;
};

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;  // the vocabulary strings of `ids`
};

namespace detail {
struct TokenizerData;
}

class IncrementalDecoder;

class Tokenizer {
 public:
  // `path` is a tokenizer.json or a folder holding one. `config_path` (tokenizer_config.json)
  // is optional; for a folder, its tokenizer_config.json is read when present.
  static Tokenizer from_file(const std::filesystem::path& path,
                             const std::filesystem::path& config_path = {});
  // `config_json` may be empty. `name` appears in error messages.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json = {},
                             const std::string& name = "tokenizer.json");

  // Throws coreml::Error (naming the byte offset) when `text` is not valid UTF-8.
  std::vector<int32_t> encode(std::string_view text, EncodeOptions options = {}) const;
  Encoding encode_with_tokens(std::string_view text, EncodeOptions options = {}) const;
  // A pair of sequences (e.g. question + context), joined by the post-processor's pair template.
  Encoding encode_pair(std::string_view first, std::string_view second,
                       EncodeOptions options = {}) const;

  // Unknown ids are skipped, as in tokenizers. Invalid byte sequences decode to U+FFFD.
  std::string decode(std::span<const int32_t> ids, DecodeOptions options = {}) const;
  // A streaming decoder; see IncrementalDecoder.
  IncrementalDecoder incremental_decoder(DecodeOptions options = {}) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  // Number of distinct tokens, added tokens included (tokenizers' get_vocab_size(True)).
  size_t vocab_size() const;

  // From tokenizer_config.json, when given.
  const std::optional<SpecialToken>& bos_token() const;
  const std::optional<SpecialToken>& eos_token() const;
  const std::optional<SpecialToken>& pad_token() const;
  const std::optional<SpecialToken>& unk_token() const;
  std::optional<bool> add_bos_token() const;
  std::optional<bool> add_eos_token() const;

 private:
  explicit Tokenizer(std::shared_ptr<const detail::TokenizerData> data) : data_(std::move(data)) {}
  std::shared_ptr<const detail::TokenizerData> data_;
};

// Turns a stream of generated ids into text as it arrives. Each step returns only new, complete
// UTF-8 text (possibly empty while a multi-byte character or a byte-fallback run is unfinished);
// the concatenation of all steps and finish() equals decode() of all the ids. It keeps a few
// previous ids as context so decoders that look at neighbours (Metaspace's leading space,
// WordPiece's "##" joins and cleanup) behave as in a full decode.
class IncrementalDecoder {
 public:
  IncrementalDecoder(Tokenizer tokenizer, DecodeOptions options);
  std::string step(int32_t id);
  // Whatever is still held back (e.g. an unfinished byte sequence, as U+FFFD).
  std::string finish();

 private:
  Tokenizer tokenizer_;
  DecodeOptions options_;
  std::vector<int32_t> window_;  // context ids followed by ids not yet emitted
  size_t emitted_ = 0;           // how many ids of window_ are already emitted
  std::string emitted_text_;     // decode(window_[0, emitted_))
};

}  // namespace coreml::llm

COREML_PUBLIC_END
