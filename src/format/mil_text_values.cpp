#include "format/mil_text_values.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coreml/error.h"
#include "tensor/half.h"

namespace coreml::format {
namespace {

using mil::DataType;
using mil::Dim;
using mil::TensorType;
using mil::Type;
using mil::Value;

// A literal written inline may hold at most this many elements (larger data lives in
// weight.bin); it also keeps the element-count product far from int64 overflow.
constexpr int64_t kMaxLiteralElements = int64_t{1} << 31;
// No MIL tensor comes close; bounds per-dimension work on malformed input.
constexpr size_t kMaxRank = 32;

bool is_type_keyword(std::string_view word) {
  return word == "tensor" || word == "state" || word == "list" || word == "tuple" || word == "dict";
}

// An integer literal as sign + magnitude, so both int64 and uint64 ranges are exact.
struct Integer {
  bool negative = false;
  uint64_t magnitude = 0;
  bool too_large = false;  // well-formed but more than 64 bits
};

std::optional<Integer> to_integer(std::string_view text) {
  Integer result;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    result.negative = text[0] == '-';
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return std::nullopt;
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), result.magnitude, base);
  if (end != text.data() + text.size()) return std::nullopt;
  if (error == std::errc::result_out_of_range) {
    result.too_large = true;
  } else if (error != std::errc()) {
    return std::nullopt;
  }
  return result;
}

// Returns nullopt when `text` is not a number or does not fit a double.
std::optional<double> to_double(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  double magnitude = 0;
  if (text == "inf" || text == "infinity") {
    magnitude = std::numeric_limits<double>::infinity();
  } else if (text == "nan") {
    magnitude = std::numeric_limits<double>::quiet_NaN();
  } else {
    auto format = std::chars_format::general;
    if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
      format = std::chars_format::hex;
      text.remove_prefix(2);
    }
    if (text.empty()) return std::nullopt;
    const auto [end, error] =
        std::from_chars(text.data(), text.data() + text.size(), magnitude, format);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  }
  return negative ? -magnitude : magnitude;
}

bool is_float_type(DataType t) {
  return t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat32 ||
         t == DataType::kFloat64 || t == DataType::kFloat8E4M3FN || t == DataType::kFloat8E5M2;
}

bool is_signed_integer(DataType t) {
  return t == DataType::kInt8 || t == DataType::kInt16 || t == DataType::kInt32 ||
         t == DataType::kInt64 || t == DataType::kInt4;
}

template <typename T>
void append_le(std::vector<uint8_t>& out, T value) {
  const size_t at = out.size();
  out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);  // the supported hosts are little-endian
}

// Packs literal elements the way the IR stores them (see mil::Value::bytes).
class ElementWriter {
 public:
  ElementWriter(MilTextLexer& lexer, DataType dtype)
      : lexer_(lexer), dtype_(dtype), bits_(mil::data_type_bits(dtype)) {}

  void add(const Token& token) {
    ++count_;
    if (dtype_ == DataType::kString) {
      if (token.kind != TokenKind::kString) lexer_.fail_expected(token, "a string");
      strings_.push_back(token.string_value);
    } else if (dtype_ == DataType::kBool) {
      add_bool(token);
    } else if (is_float_type(dtype_)) {
      add_float(token);
    } else {
      add_integer(token);
    }
  }

  int64_t count() const { return count_; }
  std::vector<uint8_t> take_bytes() { return std::move(bytes_); }
  std::vector<std::string> take_strings() { return std::move(strings_); }

 private:
  std::string what() const {
    const std::string_view name = mil::data_type_name(dtype_);
    return detail::cat(name[0] == 'i' ? "an " : "a ", name, " value");
  }

  void add_bool(const Token& token) {
    if (token.is_identifier("true")) {
      bytes_.push_back(1);
    } else if (token.is_identifier("false")) {
      bytes_.push_back(0);
    } else {
      lexer_.fail_expected(token, "true or false");
    }
  }

  void add_float(const Token& token) {
    std::optional<double> value;
    if (token.kind == TokenKind::kNumber) {
      value = to_double(token.text);
    } else if (token.is_identifier("inf") || token.is_identifier("nan") ||
               token.is_identifier("infinity")) {
      value = to_double(token.text);
    }
    if (!value) lexer_.fail_expected(token, what());
    switch (dtype_) {
      case DataType::kFloat16: append_le(bytes_, float_to_fp16(static_cast<float>(*value))); break;
      case DataType::kBFloat16: append_le(bytes_, float_to_bf16(static_cast<float>(*value))); break;
      case DataType::kFloat32: append_le(bytes_, static_cast<float>(*value)); break;
      case DataType::kFloat64: append_le(bytes_, *value); break;
      default:
        fail(ErrorCode::kUnsupported, "MIL text: ", mil::data_type_name(dtype_),
             " literals are not supported (line ", token.line, ", column ", token.column, ")");
    }
  }

  void add_integer(const Token& token) {
    std::optional<Integer> value;
    if (token.kind == TokenKind::kNumber) value = to_integer(token.text);
    if (!value) lexer_.fail_expected(token, what());
    const bool is_signed = is_signed_integer(dtype_);
    // Largest magnitude allowed on each side of zero.
    const uint64_t max_positive =
        bits_ == 64 ? (is_signed ? uint64_t{INT64_MAX} : UINT64_MAX)
                    : (is_signed ? (uint64_t{1} << (bits_ - 1)) - 1 : (uint64_t{1} << bits_) - 1);
    const uint64_t max_negative = is_signed ? max_positive + 1 : 0;
    if (value->too_large || value->magnitude > (value->negative ? max_negative : max_positive)) {
      lexer_.fail_expected(token, detail::cat(what(), " (out of range)"));
    }
    // Two's complement of the value, truncated to the element width below.
    const uint64_t raw = value->negative ? ~value->magnitude + 1 : value->magnitude;
    switch (bits_) {
      case 8: bytes_.push_back(static_cast<uint8_t>(raw)); break;
      case 16: append_le(bytes_, static_cast<uint16_t>(raw)); break;
      case 32: append_le(bytes_, static_cast<uint32_t>(raw)); break;
      case 64: append_le(bytes_, raw); break;
      default:  // sub-byte: LSB-first bit packing
        for (int b = 0; b < bits_; ++b) {
          if (bit_position_ % 8 == 0) bytes_.push_back(0);
          bytes_.back() |= static_cast<uint8_t>(((raw >> b) & 1u) << (bit_position_ % 8));
          ++bit_position_;
        }
    }
  }

  MilTextLexer& lexer_;
  DataType dtype_;
  int bits_;
  int64_t count_ = 0;
  uint64_t bit_position_ = 0;
  std::vector<uint8_t> bytes_;
  std::vector<std::string> strings_;
};

class LiteralParser {
 public:
  explicit LiteralParser(MilTextLexer& lexer) : lexer_(lexer) {}

  Value typed_literal() {
    const Token start = lexer_.peek();
    Type type = parse_type(lexer_);
    lexer_.expect("(");
    Value value;
    switch (type.kind) {
      case Type::Kind::kTensor:
        if (lexer_.peek().is_identifier("BLOBFILE") && lexer_.peek(1).is_punct("(")) {
          value = blob(type);
        } else {
          value = tensor_content(type.tensor, start);
        }
        break;
      case Type::Kind::kDict:
        value = lexer_.peek().is_punct(")") ? empty(Value::Kind::kDict, type) : dict_body(type);
        break;
      case Type::Kind::kList:
        value = lexer_.peek().is_punct(")") ? empty(Value::Kind::kList, type) : list_body(type);
        break;
      case Type::Kind::kTuple: value = tuple_content(type); break;
      case Type::Kind::kState: lexer_.fail_at(start, "a state type has no literal values");
    }
    lexer_.expect(")");
    return value;
  }

 private:
  static Value empty(Value::Kind kind, const Type& type) {
    Value value;
    value.kind = kind;
    value.type = type;
    return value;
  }

  // One element of a container: a typed literal, or bare content read as `expected`.
  Value element(const Type& expected) {
    if (starts_typed_literal(lexer_)) return typed_literal();
    const Token start = lexer_.peek();
    switch (expected.kind) {
      case Type::Kind::kTensor: return tensor_content(expected.tensor, start);
      case Type::Kind::kDict: return dict_body(expected);
      case Type::Kind::kList: return list_body(expected);
      case Type::Kind::kTuple: {
        lexer_.expect("(");
        Value value = tuple_elements(expected);
        lexer_.expect(")");
        return value;
      }
      case Type::Kind::kState: break;
    }
    lexer_.fail_at(start, "a state type has no literal values");
  }

  Value dict_body(const Type& type) {
    const Token open = lexer_.expect("{");
    MilTextLexer::DepthGuard guard(lexer_, open);
    Value value = empty(Value::Kind::kDict, type);
    if (!lexer_.peek().is_punct("}")) {
      do {
        lexer_.expect("{");
        Value key = element(type.elements[0]);
        lexer_.expect(",");
        Value item = element(type.elements[1]);
        lexer_.expect("}");
        value.entries.emplace_back(std::move(key), std::move(item));
      } while (lexer_.accept(","));
    }
    lexer_.expect("}");
    return value;
  }

  Value list_body(const Type& type) {
    const Token open = lexer_.expect("[");
    MilTextLexer::DepthGuard guard(lexer_, open);
    Value value = empty(Value::Kind::kList, type);
    if (!lexer_.peek().is_punct("]")) {
      do {
        value.elements.push_back(element(type.elements[0]));
      } while (lexer_.accept(","));
    }
    const Token close = lexer_.expect("]");
    if (type.length && *type.length != static_cast<int64_t>(value.elements.size())) {
      lexer_.fail_expected(
          close, detail::cat(*type.length, " list elements, not ", value.elements.size()));
    }
    return value;
  }

  // The content of TYPE(...) for a tuple.
  Value tuple_content(const Type& type) {
    if (lexer_.peek().is_punct(")")) return empty(Value::Kind::kTuple, type);
    // Compiled models write the tuple's own parentheses inside the literal's:
    // `tuple<string, int32>(("k", 4))`; the bare form `tuple<...>("k", 4)` is accepted too.
    if (lexer_.peek().is_punct("(")) {
      lexer_.expect("(");
      Value value = tuple_elements(type);
      lexer_.expect(")");
      return value;
    }
    return tuple_elements(type);
  }

  // Comma-separated elements up to (not including) ')'. A one-type tuple takes any count.
  Value tuple_elements(const Type& type) {
    const Token start = lexer_.peek();
    MilTextLexer::DepthGuard guard(lexer_, start);
    Value value = empty(Value::Kind::kTuple, type);
    if (lexer_.peek().is_punct(")")) return value;
    const size_t declared = type.elements.size();
    do {
      const size_t i = value.elements.size();
      if (declared == 0 || (declared > 1 && i >= declared)) {
        lexer_.fail_expected(lexer_.peek(), detail::cat("')' after ", declared, " tuple elements"));
      }
      value.elements.push_back(element(type.elements[declared == 1 ? 0 : i]));
    } while (lexer_.accept(","));
    if (declared > 1 && value.elements.size() != declared) {
      lexer_.fail_expected(lexer_.peek(),
                           detail::cat(declared, " tuple elements, not ", value.elements.size()));
    }
    return value;
  }

  Value blob(const Type& type) {
    lexer_.next();  // BLOBFILE
    lexer_.expect("(");
    std::optional<std::string> path;
    std::optional<uint64_t> offset;
    do {
      const Token key = lexer_.expect_identifier("'path' or 'offset'");
      lexer_.expect("=");
      const Token value_start = lexer_.peek();
      if (key.text == "path" && !path) {
        const Value v = element(Type::scalar(DataType::kString));
        if (v.kind != Value::Kind::kTensor || v.type.tensor.dtype != DataType::kString ||
            v.strings.size() != 1) {
          lexer_.fail_expected(value_start, "a string path");
        }
        path = v.strings[0];
      } else if (key.text == "offset" && !offset) {
        const Value v = element(Type::scalar(DataType::kUInt64));
        const DataType t = v.type.tensor.dtype;
        if (v.kind != Value::Kind::kTensor || v.element_count() != 1 ||
            (t != DataType::kUInt64 && t != DataType::kInt64 && t != DataType::kUInt32 &&
             t != DataType::kInt32)) {
          lexer_.fail_expected(value_start, "an integer offset");
        }
        const bool is_64 = t == DataType::kUInt64 || t == DataType::kInt64;
        const int64_t raw = v.as_int();
        if (raw < 0 && (t == DataType::kInt64 || t == DataType::kInt32)) {
          lexer_.fail_expected(value_start, "a non-negative offset");
        }
        offset = is_64 ? static_cast<uint64_t>(raw) : static_cast<uint64_t>(raw) & 0xffffffffu;
      } else {
        lexer_.fail_expected(key, path ? (offset ? "')'" : "'offset'") : "'path'");
      }
    } while (lexer_.accept(","));
    const Token close = lexer_.expect(")");
    if (!path) lexer_.fail_expected(close, "'path'");
    if (!offset) lexer_.fail_expected(close, "'offset'");
    Value value;
    value.kind = Value::Kind::kBlob;
    value.type = type;
    value.blob = mil::BlobRef{std::move(*path), *offset};
    return value;
  }

  // A tensor's elements: one bare element, or flat/nested brackets.
  Value tensor_content(const TensorType& declared, const Token& type_token) {
    int64_t expected = -1;  // element count, if the shape is fully known
    if (declared.shape) {
      expected = 1;
      for (const Dim& d : *declared.shape) {
        if (!d.known()) {
          expected = -1;
          break;
        }
        if (d.size != 0 && expected > kMaxLiteralElements / d.size) {
          lexer_.fail_at(
              type_token,
              detail::cat("a literal of type ", to_string(Type::of_tensor(declared)),
                          " is too large (more than ", kMaxLiteralElements, " elements)"));
        }
        expected *= d.size;
      }
    }
    ElementWriter writer(lexer_, declared.dtype);
    level_sizes_.clear();
    leaf_depth_ = -1;
    const Token start = lexer_.peek();
    if (start.is_punct("[")) {
      nested(writer, declared, expected, 0);
    } else {
      leaf(writer, declared, expected, 0);
    }
    const Token& after = lexer_.peek();
    Value value;
    value.type = Type::of_tensor(declared);
    if (expected >= 0) {
      if (writer.count() != expected) {
        lexer_.fail_expected(after, detail::cat(expected, " elements for ", to_string(value.type),
                                                ", not ", writer.count()));
      }
    } else if (declared.shape) {
      infer_unknown_dims(*value.type.tensor.shape, writer.count(), start);
    }
    value.bytes = writer.take_bytes();
    value.strings = writer.take_strings();
    return value;
  }

  void leaf(ElementWriter& writer, const TensorType& declared, int64_t expected, size_t depth) {
    const Token token = lexer_.next();
    if (expected >= 0 && writer.count() >= expected) {
      lexer_.fail_expected(token, detail::cat("']' (", to_string(Type::of_tensor(declared)),
                                              " has ", expected, " elements)"));
    }
    if (leaf_depth_ < 0) leaf_depth_ = static_cast<int>(depth);
    if (leaf_depth_ != static_cast<int>(depth)) {
      lexer_.fail_at(token, "ragged tensor literal (elements at different nesting depths)");
    }
    writer.add(token);
  }

  void nested(ElementWriter& writer, const TensorType& declared, int64_t expected, size_t depth) {
    const Token open = lexer_.next();  // '['
    MilTextLexer::DepthGuard guard(lexer_, open);
    int64_t items = 0;
    if (!lexer_.peek().is_punct("]")) {
      do {
        if (lexer_.peek().is_punct("[")) {
          nested(writer, declared, expected, depth + 1);
        } else {
          leaf(writer, declared, expected, depth + 1);
        }
        ++items;
      } while (lexer_.accept(","));
    }
    lexer_.expect("]");
    if (level_sizes_.size() <= depth) level_sizes_.resize(depth + 1, -1);
    if (level_sizes_[depth] < 0) level_sizes_[depth] = items;
    if (level_sizes_[depth] != items) {
      lexer_.fail_at(open, detail::cat("ragged tensor literal (", items, " elements here, ",
                                       level_sizes_[depth], " in an earlier row)"));
    }
  }

  // Fills `?`/symbolic dims from the literal: from its nesting if that has the declared rank,
  // else (rank 1) from the element count.
  void infer_unknown_dims(std::vector<Dim>& shape, int64_t count, const Token& at) {
    const size_t literal_rank =
        leaf_depth_ >= 0 ? static_cast<size_t>(leaf_depth_) : level_sizes_.size();
    if (literal_rank == shape.size()) {
      for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i].known() && shape[i].size != level_sizes_[i]) {
          lexer_.fail_at(at, detail::cat("literal dimension ", i, " is ", level_sizes_[i],
                                         ", the type says ", shape[i].size));
        }
        shape[i] = Dim::of(level_sizes_[i]);
      }
    } else if (shape.size() == 1) {
      shape[0] = Dim::of(count);
    } else {
      lexer_.fail_at(at, "cannot infer the unknown dimensions of this literal from its nesting");
    }
  }

  MilTextLexer& lexer_;
  // Per nesting depth of the tensor literal being read: items per bracket (all equal).
  std::vector<int64_t> level_sizes_;
  int leaf_depth_ = -1;
};

DataType parse_data_type(MilTextLexer& lexer) {
  const Token token = lexer.peek();
  std::optional<DataType> dtype;
  if (token.kind == TokenKind::kIdentifier) dtype = mil::data_type_from_name(token.text);
  if (!dtype) lexer.fail_expected(token, "a data type (fp16, fp32, int32, bool, string, ...)");
  lexer.next();
  return *dtype;
}

Dim parse_dim(MilTextLexer& lexer) {
  const Token token = lexer.next();
  if (token.is_punct("?")) return Dim::unknown();
  if (token.kind == TokenKind::kIdentifier) return Dim::unknown(std::string(token.text));
  if (token.kind == TokenKind::kNumber) {
    const std::optional<Integer> value = to_integer(token.text);
    if (value && !value->too_large && !value->negative && value->magnitude <= uint64_t{INT64_MAX}) {
      return Dim::of(static_cast<int64_t>(value->magnitude));
    }
  }
  lexer.fail_expected(token, "a dimension (a size, a symbol or '?')");
}

TensorType parse_tensor_type(MilTextLexer& lexer) {
  lexer.expect("<");
  TensorType tensor;
  tensor.dtype = parse_data_type(lexer);
  lexer.expect(",");
  lexer.expect("[");
  std::vector<Dim> dims;
  if (!lexer.peek().is_punct("]")) {
    do {
      if (dims.size() == kMaxRank) {
        lexer.fail_expected(lexer.peek(), detail::cat("']' (at most ", kMaxRank, " dimensions)"));
      }
      dims.push_back(parse_dim(lexer));
    } while (lexer.accept(","));
  }
  lexer.expect("]");
  lexer.expect(">");
  tensor.shape = std::move(dims);
  return tensor;
}

}  // namespace

bool starts_typed_literal(MilTextLexer& lexer) {
  const Token& first = lexer.peek();
  if (first.kind != TokenKind::kIdentifier) return false;
  const Token& second = lexer.peek(1);
  if (is_type_keyword(first.text)) return second.is_punct("<");
  return second.is_punct("(") && mil::data_type_from_name(first.text).has_value();
}

bool starts_type(MilTextLexer& lexer) {
  const Token& first = lexer.peek();
  if (first.kind != TokenKind::kIdentifier) return false;
  if (is_type_keyword(first.text)) return lexer.peek(1).is_punct("<");
  return mil::data_type_from_name(first.text).has_value();
}

Type parse_type(MilTextLexer& lexer) {
  const Token token = lexer.peek();
  MilTextLexer::DepthGuard guard(lexer, token);
  if (token.kind == TokenKind::kIdentifier && mil::data_type_from_name(token.text)) {
    return Type::scalar(parse_data_type(lexer));
  }
  if (token.kind != TokenKind::kIdentifier || !is_type_keyword(token.text)) {
    lexer.fail_expected(token, "a type");
  }
  lexer.next();
  if (token.text == "tensor") return Type::of_tensor(parse_tensor_type(lexer));
  if (token.text == "state") {
    lexer.expect("<");
    const Token inner_start = lexer.peek();
    if (!inner_start.is_identifier("tensor")) lexer.fail_expected(inner_start, "'tensor'");
    lexer.next();
    Type state = Type::of_state(parse_tensor_type(lexer));
    lexer.expect(">");
    return state;
  }
  Type type;
  lexer.expect("<");
  if (token.text == "list") {
    type.kind = Type::Kind::kList;
    type.elements.push_back(parse_type(lexer));
    if (lexer.accept(",")) {
      const Token length = lexer.next();
      if (!length.is_punct("?")) {
        const std::optional<Integer> n =
            length.kind == TokenKind::kNumber ? to_integer(length.text) : std::nullopt;
        if (!n || n->too_large || n->negative || n->magnitude > uint64_t{INT64_MAX}) {
          lexer.fail_expected(length, "a list length or '?'");
        }
        type.length = static_cast<int64_t>(n->magnitude);
      }
    }
  } else if (token.text == "tuple") {
    type.kind = Type::Kind::kTuple;
    if (!lexer.peek().is_punct(">")) {
      do {
        type.elements.push_back(parse_type(lexer));
      } while (lexer.accept(","));
    }
  } else {  // dict
    type.kind = Type::Kind::kDict;
    type.elements.push_back(parse_type(lexer));
    lexer.expect(",");
    type.elements.push_back(parse_type(lexer));
  }
  lexer.expect(">");
  return type;
}

mil::Value parse_typed_literal(MilTextLexer& lexer) { return LiteralParser(lexer).typed_literal(); }

}  // namespace coreml::format
