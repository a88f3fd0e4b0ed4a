#include "llm/tokenizer/precompiled.h"

#include <utf8proc.h>

#include <cstring>

#include "coreml/error.h"
#include "llm/tokenizer/utf8.h"

namespace coreml::llm::tok {

std::string base64_decode(std::string_view text, const std::string& where) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '=') break;
    int v = value(c);
    if (v < 0) fail(ErrorCode::kParse, where, ": invalid base64 character at offset ", i);
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

PrecompiledCharsMap::PrecompiledCharsMap(std::string_view blob, const std::string& where) {
  if (blob.size() < 4) fail(ErrorCode::kParse, where, ": charsmap shorter than its header");
  uint32_t trie_bytes = 0;
  for (int i = 3; i >= 0; --i) trie_bytes = (trie_bytes << 8) | static_cast<unsigned char>(blob[i]);
  if (trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4 || trie_bytes == 0) {
    fail(ErrorCode::kParse, where, ": charsmap trie size ", trie_bytes, " does not fit its ",
         blob.size(), " bytes");
  }
  units_.resize(trie_bytes / 4);
  for (size_t i = 0; i < units_.size(); ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(blob.data()) + 4 + i * 4;
    units_[i] = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
  }
  strings_ = std::string(blob.substr(4 + trie_bytes));
}

std::optional<std::string_view> PrecompiledCharsMap::transform(std::string_view chunk) const {
  // darts-clone unit layout: bit 8 = has leaf, low byte (+ bit 31) = label, offset in bits 10..31
  // scaled by bit 9; a leaf unit's value is its low 31 bits.
  auto offset = [](uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); };
  auto label = [](uint32_t unit) { return unit & ((1u << 31) | 0xFF); };
  auto has_leaf = [](uint32_t unit) { return ((unit >> 8) & 1) == 1; };
  size_t node = offset(units_[0]);
  for (unsigned char c : chunk) {
    node ^= c;
    if (node >= units_.size()) return std::nullopt;
    uint32_t unit = units_[node];
    if (label(unit) != c) return std::nullopt;
    node ^= offset(unit);
    if (node >= units_.size()) return std::nullopt;
    if (has_leaf(unit)) {
      size_t index = units_[node] & 0x7FFFFFFFu;
      if (index >= strings_.size()) return std::nullopt;
      size_t end = strings_.find('\0', index);
      if (end == std::string::npos) end = strings_.size();
      return std::string_view(strings_).substr(index, end - index);
    }
  }
  return std::nullopt;
}

std::string PrecompiledCharsMap::normalize(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    // One extended grapheme cluster: [pos, end).
    size_t end = pos;
    utf8proc_int32_t state = 0;
    char32_t previous = next_code_point(text, end);
    while (end < text.size()) {
      size_t probe = end;
      char32_t c = next_code_point(text, probe);
      if (utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(previous),
                                           static_cast<utf8proc_int32_t>(c), &state)) {
        break;
      }
      previous = c;
      end = probe;
    }
    std::string_view grapheme = text.substr(pos, end - pos);
    pos = end;
    if (grapheme.size() < 6) {
      if (auto replacement = transform(grapheme)) {
        out += *replacement;
        continue;
      }
    }
    size_t at = 0;
    while (at < grapheme.size()) {
      size_t start = at;
      next_code_point(grapheme, at);
      std::string_view part = grapheme.substr(start, at - start);
      if (auto replacement = transform(part)) {
        out += *replacement;
      } else {
        out += part;
      }
    }
  }
  return out;
}

namespace {
class Precompiled : public Normalizer {
 public:
  explicit Precompiled(const Node& node)
      : map_(base64_decode(node.child("precompiled_charsmap").string(),
                           node.path + ".precompiled_charsmap"),
             node.path + ".precompiled_charsmap") {}
  void normalize(std::string& text) const override { text = map_.normalize(text); }

 private:
  PrecompiledCharsMap map_;
};

class Identity : public Normalizer {
 public:
  void normalize(std::string&) const override {}
};
}  // namespace

std::unique_ptr<Normalizer> make_precompiled_normalizer(const Node& node) {
  // Some exports write an empty charsmap, meaning "no normalization".
  if (!node.has("precompiled_charsmap") || node.child("precompiled_charsmap").string().empty()) {
    return std::make_unique<Identity>();
  }
  return std::make_unique<Precompiled>(node);
}

}  // namespace coreml::llm::tok
