// The encode / decode pipeline: added tokens -> normalizer -> pre-tokenizer -> model ->
// post-processor, and ids -> token strings -> decoder.
#include "coreml/error.h"
#include "llm/tokenizer/tokenizer_data.h"
#include "llm/tokenizer/utf8.h"

namespace coreml::llm {

namespace {

void check_utf8(std::string_view text) {
  size_t bad = tok::find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    fail(ErrorCode::kInvalidArgument, "tokenizer input is not valid UTF-8 at byte offset ", bad);
  }
}

const std::string& token_string(const detail::TokenizerData& data, int32_t id) {
  auto added = data.added_by_id.find(id);
  if (added != data.added_by_id.end()) return data.added_tokens[added->second].content;
  if (const std::string* token = data.model->id_to_token(id)) return *token;
  static const std::string kEmpty;
  return kEmpty;
}

// Tokenizes text that contains no raw-matched added tokens.
void encode_plain(const detail::TokenizerData& data, std::string_view text, bool at_origin,
                  std::vector<int32_t>& ids) {
  std::string normalized(text);
  if (data.normalizer) data.normalizer->normalize(normalized);
  std::vector<tok::Segment> segments;
  if (data.normalized_matcher.empty()) {
    segments.push_back(tok::Segment{0, normalized.size(), -1});
  } else {
    segments = data.normalized_matcher.split(normalized);
  }
  std::vector<tok::Piece> pieces;
  for (const tok::Segment& segment : segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    pieces.clear();
    pieces.push_back(tok::Piece{normalized.substr(segment.begin, segment.end - segment.begin),
                                at_origin && segment.begin == 0});
    if (data.pre_tokenizer) data.pre_tokenizer->pre_tokenize(pieces);
    for (const tok::Piece& piece : pieces) data.model->tokenize(piece.text, ids);
  }
}

std::vector<int32_t> encode_ids(const detail::TokenizerData& data, std::string_view text) {
  check_utf8(text);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (data.raw_matcher.empty()) {
    encode_plain(data, text, true, ids);
    return ids;
  }
  for (const tok::Segment& segment : data.raw_matcher.split(text)) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
    } else {
      encode_plain(data, text.substr(segment.begin, segment.end - segment.begin),
                   segment.begin == 0, ids);
    }
  }
  return ids;
}

tok::TokenSequence with_tokens(const detail::TokenizerData& data, std::vector<int32_t> ids) {
  tok::TokenSequence sequence;
  sequence.tokens.reserve(ids.size());
  for (int32_t id : ids) sequence.tokens.push_back(token_string(data, id));
  sequence.ids = std::move(ids);
  return sequence;
}

tok::TokenSequence merge(std::vector<tok::TokenSequence> sequences) {
  tok::TokenSequence out;
  for (const auto& s : sequences) out.append(s);
  return out;
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, EncodeOptions options) const {
  if (options.add_special_tokens && data_->post_processor) {
    return encode_with_tokens(text, options).ids;
  }
  return encode_ids(*data_, text);
}

Encoding Tokenizer::encode_with_tokens(std::string_view text, EncodeOptions options) const {
  tok::TokenSequence sequence = with_tokens(*data_, encode_ids(*data_, text));
  if (options.add_special_tokens && data_->post_processor) {
    sequence = merge(data_->post_processor->process({std::move(sequence)}));
  }
  return Encoding{std::move(sequence.ids), std::move(sequence.tokens)};
}

Encoding Tokenizer::encode_pair(std::string_view first, std::string_view second,
                                EncodeOptions options) const {
  tok::TokenSequence a = with_tokens(*data_, encode_ids(*data_, first));
  tok::TokenSequence b = with_tokens(*data_, encode_ids(*data_, second));
  if (options.add_special_tokens && data_->post_processor) {
    a = merge(data_->post_processor->process({std::move(a), std::move(b)}));
  } else {
    a.append(b);
  }
  return Encoding{std::move(a.ids), std::move(a.tokens)};
}

std::string Tokenizer::decode(std::span<const int32_t> ids, DecodeOptions options) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    auto added = data_->added_by_id.find(id);
    if (added != data_->added_by_id.end()) {
      const tok::AddedToken& token = data_->added_tokens[added->second];
      if (!(options.skip_special_tokens && token.special)) tokens.push_back(token.content);
      continue;
    }
    const std::string* token = data_->model->id_to_token(id);
    if (!token) continue;
    // A model token whose string is also a special added token counts as special.
    if (options.skip_special_tokens && is_special(id)) continue;
    tokens.push_back(*token);
  }
  if (!data_->decoder) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) joined.push_back(' ');
      joined += tokens[i];
    }
    return joined;
  }
  data_->decoder->decode_chain(tokens);
  std::string text;
  for (const auto& t : tokens) text += t;
  return text;
}

IncrementalDecoder Tokenizer::incremental_decoder(DecodeOptions options) const {
  return IncrementalDecoder(*this, options);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  auto it = data_->added_by_content.find(token);
  if (it != data_->added_by_content.end()) return it->second;
  return data_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  auto added = data_->added_by_id.find(id);
  if (added != data_->added_by_id.end()) return data_->added_tokens[added->second].content;
  if (const std::string* token = data_->model->id_to_token(id)) return *token;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  auto added = data_->added_by_id.find(id);
  if (added != data_->added_by_id.end()) return data_->added_tokens[added->second].special;
  const std::string* token = data_->model->id_to_token(id);
  if (!token) return false;
  auto by_content = data_->added_by_content.find(*token);
  return by_content != data_->added_by_content.end() &&
         data_->added_tokens[data_->added_by_id.at(by_content->second)].special;
}

size_t Tokenizer::vocab_size() const { return data_->vocab_size; }
const std::optional<SpecialToken>& Tokenizer::bos_token() const { return data_->bos; }
const std::optional<SpecialToken>& Tokenizer::eos_token() const { return data_->eos; }
const std::optional<SpecialToken>& Tokenizer::pad_token() const { return data_->pad; }
const std::optional<SpecialToken>& Tokenizer::unk_token() const { return data_->unk; }
std::optional<bool> Tokenizer::add_bos_token() const { return data_->add_bos; }
std::optional<bool> Tokenizer::add_eos_token() const { return data_->add_eos; }

}  // namespace coreml::llm
