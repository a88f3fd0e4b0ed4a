// GPT-2's reversible byte <-> printable-character map used by ByteLevel pre-tokenizers and
// decoders.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace coreml::llm::tok {

struct ByteLevelTables {
  std::array<std::string, 256> byte_to_text;  // UTF-8 of the character standing for each byte
  std::array<int16_t, 512> char_to_byte;      // code point (< 512) -> byte, or -1
};

const ByteLevelTables& byte_level_tables();

// Maps each byte of `text` to its stand-in character.
void append_byte_level(std::string& out, std::string_view text);
// Maps a token back to bytes; false when some character is not in the map.
bool byte_level_to_bytes(std::string_view token, std::string& bytes);

}  // namespace coreml::llm::tok
