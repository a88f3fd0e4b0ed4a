// Types and literal values of `model.mil` text (internal to the MIL text parser).
//
// Types:    tensor<DT, [d0, d1, ...]>   (dims: integers, symbols like `is0`, or `?`)
//           state<tensor<...>>  list<T>  list<T, N|?>  tuple<T, ...>  dict<K, V>  DT (a scalar)
// Literals: TYPE(CONTENT), the content read according to TYPE:
//   tensors  a number / bool / string for a scalar, else brackets, flat or nested
//            (`[1, 2, 3, 4]` or `[[1, 2], [3, 4]]`); the element count must match the shape.
//            Unknown dims (`?`, symbols) are filled in from the literal's shape.
//            Or BLOBFILE(path = STRING, offset = UINT) for weights in weight.bin.
//   dicts    {{k, v}, ...}     tuples  (a, b, ...) or a, b, ...     lists  [a, b, ...]
// Inside a container an element is written bare (as above, per its declared type) or as a
// full typed literal (`{{tensor<string, []>("k"), tensor<string, []>("v")}}`).
// Numbers: decimal or C99 hex integers/floats, inf/nan with an optional sign.
#pragma once

#include "format/mil_text_lexer.h"
#include "mil/ir.h"

namespace coreml::format {

// True if the next tokens begin a type (so a statement/literal, not a name, follows).
bool starts_type(MilTextLexer& lexer);

// True if the next tokens begin a typed literal (`tensor<...>(`, `int32(`, `dict<...>(`).
bool starts_typed_literal(MilTextLexer& lexer);

mil::Type parse_type(MilTextLexer& lexer);

// TYPE(CONTENT) — a literal with its type written in front.
mil::Value parse_typed_literal(MilTextLexer& lexer);

}  // namespace coreml::format
