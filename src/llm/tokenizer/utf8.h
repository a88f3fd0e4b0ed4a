// UTF-8 and Unicode character-class helpers shared by the tokenizer components. The classes follow
// the definitions the Hugging Face tokenizers library uses (Rust's char methods), so that our
// pipeline splits text exactly where theirs does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace coreml::llm::tok {

// Decodes the code point starting at text[pos] (text must be valid UTF-8) and advances pos.
char32_t next_code_point(std::string_view text, size_t& pos);
// Length in bytes of the UTF-8 sequence whose lead byte is `lead` (valid input only).
size_t utf8_length(unsigned char lead);
void append_utf8(std::string& out, char32_t code_point);

// Offset of the first byte that is not part of a well-formed UTF-8 sequence, or npos.
size_t find_invalid_utf8(std::string_view bytes);
// Replaces each maximal ill-formed subsequence with U+FFFD (the rule Rust's from_utf8_lossy uses).
std::string utf8_lossy(std::string_view bytes);
// True when `bytes` ends in the middle of what could still become a valid sequence.
bool ends_with_incomplete_utf8(std::string_view bytes);

bool is_whitespace(char32_t c);       // Unicode White_Space (Rust char::is_whitespace)
bool is_alphanumeric(char32_t c);     // letters, marks and numbers (approximates Rust's)
bool is_numeric(char32_t c);          // Nd, Nl, No (Rust char::is_numeric)
bool is_punctuation(char32_t c);      // ASCII punctuation or any P* category (BERT's rule)
bool is_control(char32_t c);          // BERT's "control": Cc Cf Co Cs except \t \n \r
bool is_bert_whitespace(char32_t c);  // \t \n \r or category Zs
bool is_nonspacing_mark(char32_t c);  // category Mn
bool is_mark(char32_t c);             // categories Mn, Mc, Me
bool is_chinese_char(char32_t c);     // the CJK blocks BERT pads with spaces

}  // namespace coreml::llm::tok
