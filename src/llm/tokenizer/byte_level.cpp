#include "llm/tokenizer/byte_level.h"

#include "llm/tokenizer/utf8.h"

namespace coreml::llm::tok {

namespace {
ByteLevelTables build_tables() {
  ByteLevelTables tables;
  tables.char_to_byte.fill(-1);
  // Printable bytes stand for themselves; the rest get code points 256, 257, ... in byte order.
  auto printable = [](int b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  };
  int next_extra = 256;
  for (int b = 0; b < 256; ++b) {
    char32_t c = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(next_extra++);
    append_utf8(tables.byte_to_text[b], c);
    tables.char_to_byte[c] = static_cast<int16_t>(b);
  }
  return tables;
}
}  // namespace

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables = build_tables();
  return tables;
}

void append_byte_level(std::string& out, std::string_view text) {
  const auto& table = byte_level_tables().byte_to_text;
  for (unsigned char b : text) out += table[b];
}

bool byte_level_to_bytes(std::string_view token, std::string& bytes) {
  const auto& table = byte_level_tables().char_to_byte;
  size_t pos = 0;
  while (pos < token.size()) {
    char32_t c = next_code_point(token, pos);
    if (c >= table.size() || table[c] < 0) return false;
    bytes.push_back(static_cast<char>(table[c]));
  }
  return true;
}

}  // namespace coreml::llm::tok
