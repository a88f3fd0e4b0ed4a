// ML Program protobuf -> IR. Follows the conventions of src/mil/ir.h literally, so that the
// result equals what the MIL text parser produces for the same program.
#include "format/mlmodel_program.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include "coreml/error.h"
#include "tensor/half.h"

namespace coreml::format::detail {
namespace {

using mil::DataType;

// No tensor literal can hold more elements than this: the serialized model is at most 2 GiB.
constexpr int64_t kMaxLiteralElements = int64_t{1} << 34;

template <typename... Args>
std::string detail_cat(Args&&... args) {
  return coreml::detail::cat(std::forward<Args>(args)...);
}

void check_depth(int depth, const std::string& where) {
  if (depth > kMaxIrNesting) {
    fail(ErrorCode::kParse, where, ": nested deeper than ", kMaxIrNesting, " levels");
  }
}

DataType convert_data_type(int code, const std::string& where) {
  if (code == 0) fail(ErrorCode::kParse, where, ": tensor type has no data type (code 0)");
  const auto type = mil::data_type_from_proto_code(code);
  if (!type) fail(ErrorCode::kUnsupported, where, ": unknown MIL data type code ", code);
  return *type;
}

mil::TensorType convert_tensor_type(const spec::TensorType& proto, const std::string& where) {
  mil::TensorType out;
  out.dtype = convert_data_type(proto.data_type(), where);
  if (proto.rank() < 0) {
    out.shape.reset();  // unknown rank
    return out;
  }
  if (proto.rank() != proto.dimensions_size()) {
    fail(ErrorCode::kParse, where, ": tensor type declares rank ", proto.rank(), " but has ",
         proto.dimensions_size(), " dimensions");
  }
  std::vector<mil::Dim> dims;
  dims.reserve(static_cast<size_t>(proto.dimensions_size()));
  for (int i = 0; i < proto.dimensions_size(); ++i) {
    const spec::Dimension& dim = proto.dimensions(i);
    if (dim.has_constant()) {
      const uint64_t size = dim.constant().size();
      if (size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(ErrorCode::kParse, where, ": dimension ", i, " size ", size, " is too large");
      }
      dims.push_back(mil::Dim::of(static_cast<int64_t>(size)));
    } else if (dim.has_unknown()) {
      dims.push_back(mil::Dim::unknown());
    } else {
      fail(ErrorCode::kParse, where, ": dimension ", i, " is neither constant nor unknown");
    }
  }
  out.shape = std::move(dims);
  return out;
}

mil::Type convert_type(const spec::ValueType& proto, const std::string& where, int depth) {
  check_depth(depth, where);
  switch (proto.kind_case()) {
    case spec::ValueType::kTensorType:
      return mil::Type::of_tensor(convert_tensor_type(proto.tensor_type(), where));
    case spec::ValueType::kStateType: {
      const spec::ValueType& wrapped = proto.state_type().wrapped_type();
      if (!wrapped.has_tensor_type()) {
        fail(ErrorCode::kParse, where, ": state type does not wrap a tensor type");
      }
      return mil::Type::of_state(convert_tensor_type(wrapped.tensor_type(), where));
    }
    case spec::ValueType::kListType: {
      mil::Type out;
      out.kind = mil::Type::Kind::kList;
      if (!proto.list_type().has_type()) {
        fail(ErrorCode::kParse, where, ": list type has no element type");
      }
      out.elements.push_back(convert_type(proto.list_type().type(), where, depth + 1));
      const spec::Dimension& length = proto.list_type().length();
      if (length.has_constant()) {
        const uint64_t n = length.constant().size();
        if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          fail(ErrorCode::kParse, where, ": list length ", n, " is too large");
        }
        out.length = static_cast<int64_t>(n);
      }
      return out;
    }
    case spec::ValueType::kTupleType: {
      mil::Type out;
      out.kind = mil::Type::Kind::kTuple;
      for (const auto& element : proto.tuple_type().types()) {
        out.elements.push_back(convert_type(element, where, depth + 1));
      }
      return out;
    }
    case spec::ValueType::kDictionaryType: {
      const spec::DictionaryType& dict = proto.dictionary_type();
      if (!dict.has_key_type() || !dict.has_value_type()) {
        fail(ErrorCode::kParse, where, ": dictionary type lacks its key or value type");
      }
      mil::Type out;
      out.kind = mil::Type::Kind::kDict;
      out.elements.push_back(convert_type(dict.key_type(), where, depth + 1));
      out.elements.push_back(convert_type(dict.value_type(), where, depth + 1));
      return out;
    }
    case spec::ValueType::KIND_NOT_SET: break;
  }
  fail(ErrorCode::kParse, where, ": value type is not set");
}

// Number of elements a literal of this tensor type must hold; the shape must be fully known.
int64_t literal_element_count(const mil::TensorType& type, const std::string& where) {
  if (!type.shape) fail(ErrorCode::kParse, where, ": literal tensor has unknown rank");
  int64_t count = 1;
  for (const mil::Dim& dim : *type.shape) {
    if (!dim.known()) fail(ErrorCode::kParse, where, ": literal tensor has an unknown dimension");
    if (dim.size != 0 && count > kMaxLiteralElements / dim.size) {
      fail(ErrorCode::kParse, where, ": literal tensor shape has too many elements");
    }
    count *= dim.size;
  }
  return count;
}

template <typename T>
void append_le(std::vector<uint8_t>& out, T value) {
  const size_t at = out.size();
  out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);  // hosts are little-endian
}

std::string shape_text(const mil::TensorType& type) {
  return mil::to_string(mil::Type::of_tensor(type));
}

void check_count(const mil::TensorType& type, int64_t expected, int64_t found, const char* field,
                 const std::string& where) {
  if (found != expected) {
    fail(ErrorCode::kParse, where, ": literal ", shape_text(type), " needs ", expected,
         " elements, but its ", field, " field holds ", found);
  }
}

[[noreturn]] void wrong_field(const mil::TensorType& type, const char* field,
                              const std::string& where) {
  fail(ErrorCode::kParse, where, ": literal ", shape_text(type), " cannot be stored in the ", field,
       " field");
}

// Packs real numbers (from `floats` or `doubles`) into the declared floating type.
template <typename Source>
void pack_reals(const Source& values, const mil::TensorType& type, int64_t count, const char* field,
                const std::string& where, std::vector<uint8_t>& out) {
  check_count(type, count, values.size(), field, where);
  for (const auto v : values) {
    switch (type.dtype) {
      case DataType::kFloat32: append_le(out, static_cast<float>(v)); break;
      case DataType::kFloat64: append_le(out, static_cast<double>(v)); break;
      case DataType::kFloat16: append_le(out, float_to_fp16(static_cast<float>(v))); break;
      case DataType::kBFloat16: append_le(out, float_to_bf16(static_cast<float>(v))); break;
      default: wrong_field(type, field, where);
    }
  }
}

// Packs integers (from `ints` or `longInts`) into the declared integer type, refusing values
// that do not fit. uint32 arrives through the int32 `ints` field, so its bit pattern is kept.
template <typename Source>
void pack_integers(const Source& values, const mil::TensorType& type, int64_t count,
                   const char* field, const std::string& where, std::vector<uint8_t>& out) {
  check_count(type, count, values.size(), field, where);
  auto in_range = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
      fail(ErrorCode::kParse, where, ": value ", v, " does not fit ",
           mil::data_type_name(type.dtype));
    }
  };
  for (const auto raw : values) {
    const auto v = static_cast<int64_t>(raw);
    switch (type.dtype) {
      case DataType::kInt8:
        in_range(v, -128, 127);
        append_le(out, static_cast<int8_t>(v));
        break;
      case DataType::kUInt8:
        in_range(v, 0, 255);
        append_le(out, static_cast<uint8_t>(v));
        break;
      case DataType::kInt16:
        in_range(v, -32768, 32767);
        append_le(out, static_cast<int16_t>(v));
        break;
      case DataType::kUInt16:
        in_range(v, 0, 65535);
        append_le(out, static_cast<uint16_t>(v));
        break;
      case DataType::kInt32:
        in_range(v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
        append_le(out, static_cast<int32_t>(v));
        break;
      case DataType::kUInt32:
        in_range(v, std::numeric_limits<int32_t>::min(), std::numeric_limits<uint32_t>::max());
        append_le(out, static_cast<uint32_t>(v));
        break;
      case DataType::kInt64: append_le(out, v); break;
      case DataType::kUInt64: append_le(out, static_cast<uint64_t>(v)); break;
      default: wrong_field(type, field, where);
    }
  }
}

void fill_tensor_literal(const spec::TensorValue& proto, const mil::TensorType& type,
                         const std::string& where, mil::Value& out) {
  const int64_t count = literal_element_count(type, where);
  const bool is_string = type.dtype == DataType::kString;
  switch (proto.kind_case()) {
    case spec::TensorValue::kFloats:
      pack_reals(proto.floats().values(), type, count, "floats", where, out.bytes);
      return;
    case spec::TensorValue::kDoubles:
      pack_reals(proto.doubles().values(), type, count, "doubles", where, out.bytes);
      return;
    case spec::TensorValue::kInts:
      pack_integers(proto.ints().values(), type, count, "ints", where, out.bytes);
      return;
    case spec::TensorValue::kLongInts:
      pack_integers(proto.long_ints().values(), type, count, "longInts", where, out.bytes);
      return;
    case spec::TensorValue::kBools:
      if (type.dtype != DataType::kBool) wrong_field(type, "bools", where);
      check_count(type, count, proto.bools().values_size(), "bools", where);
      for (const bool b : proto.bools().values()) out.bytes.push_back(b ? 1 : 0);
      return;
    case spec::TensorValue::kStrings:
      if (!is_string) wrong_field(type, "strings", where);
      check_count(type, count, proto.strings().values_size(), "strings", where);
      out.strings.assign(proto.strings().values().begin(), proto.strings().values().end());
      return;
    case spec::TensorValue::kBytes: {
      if (is_string) wrong_field(type, "bytes", where);
      const std::string& data = proto.bytes().values();
      const int64_t bits = mil::data_type_bits(type.dtype);
      const int64_t needed = (count * bits + 7) / 8;
      if (static_cast<int64_t>(data.size()) != needed) {
        fail(ErrorCode::kParse, where, ": literal ", shape_text(type), " needs ", needed,
             " bytes, but its bytes field holds ", data.size());
      }
      out.bytes.assign(data.begin(), data.end());
      return;
    }
    case spec::TensorValue::KIND_NOT_SET:
      if (count == 0) return;
      fail(ErrorCode::kParse, where, ": literal ", shape_text(type), " holds no data");
  }
}

mil::Value convert_value(const spec::Value& proto, const std::string& where, int depth) {
  check_depth(depth, where);
  if (!proto.has_type()) fail(ErrorCode::kParse, where, ": value has no type");
  mil::Value out;
  out.type = convert_type(proto.type(), where, depth + 1);
  const auto expect_kind = [&](mil::Type::Kind kind, const char* what) {
    if (out.type.kind != kind) {
      fail(ErrorCode::kParse, where, ": ", what, " value declared as ", mil::to_string(out.type));
    }
  };
  switch (proto.kind_case()) {
    case spec::Value::kBlobFileValue:
      expect_kind(mil::Type::Kind::kTensor, "blob file");
      out.kind = mil::Value::Kind::kBlob;
      out.blob.path = proto.blob_file_value().file_name();
      out.blob.offset = proto.blob_file_value().offset();
      return out;
    case spec::Value::kImmediateValue: break;
    case spec::Value::KIND_NOT_SET:
      fail(ErrorCode::kParse, where, ": value is neither immediate nor a blob reference");
  }
  const spec::Value::Immediate& immediate = proto.immediate_value();
  switch (immediate.kind_case()) {
    case spec::Value::Immediate::kTensor:
      expect_kind(mil::Type::Kind::kTensor, "tensor");
      out.kind = mil::Value::Kind::kTensor;
      fill_tensor_literal(immediate.tensor(), out.type.tensor, where, out);
      return out;
    case spec::Value::Immediate::kTuple:
      expect_kind(mil::Type::Kind::kTuple, "tuple");
      out.kind = mil::Value::Kind::kTuple;
      for (const auto& element : immediate.tuple().values()) {
        out.elements.push_back(convert_value(element, where, depth + 1));
      }
      return out;
    case spec::Value::Immediate::kList:
      expect_kind(mil::Type::Kind::kList, "list");
      out.kind = mil::Value::Kind::kList;
      for (const auto& element : immediate.list().values()) {
        out.elements.push_back(convert_value(element, where, depth + 1));
      }
      return out;
    case spec::Value::Immediate::kDictionary:
      expect_kind(mil::Type::Kind::kDict, "dictionary");
      out.kind = mil::Value::Kind::kDict;
      for (const auto& entry : immediate.dictionary().values()) {
        out.entries.emplace_back(convert_value(entry.key(), where, depth + 1),
                                 convert_value(entry.value(), where, depth + 1));
      }
      return out;
    case spec::Value::Immediate::KIND_NOT_SET: break;
  }
  fail(ErrorCode::kParse, where, ": immediate value is empty");
}

// Protobuf maps iterate in no particular order; the IR wants a deterministic one.
template <typename Map>
std::vector<std::string> sorted_keys(const Map& map) {
  std::vector<std::string> keys;
  keys.reserve(map.size());
  for (const auto& [key, unused] : map) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::map<std::string, mil::Value> convert_attributes(
    const google::protobuf::Map<std::string, spec::Value>& proto, const std::string& where,
    int depth) {
  std::map<std::string, mil::Value> out;
  for (const auto& [key, value] : proto) {
    out.emplace(key, convert_value(value, detail_cat(where, ", attribute ", key), depth + 1));
  }
  return out;
}

mil::Type convert_named_type(const spec::NamedValueType& proto, const std::string& where,
                             int depth) {
  if (!proto.has_type()) fail(ErrorCode::kParse, where, ": '", proto.name(), "' has no type");
  return convert_type(proto.type(), where, depth);
}

std::vector<mil::NamedType> convert_named_types(
    const google::protobuf::RepeatedPtrField<spec::NamedValueType>& proto, const std::string& where,
    int depth) {
  std::vector<mil::NamedType> out;
  out.reserve(static_cast<size_t>(proto.size()));
  for (const auto& named : proto) {
    out.push_back({named.name(), convert_named_type(named, where, depth)});
  }
  return out;
}

mil::Block convert_block(spec::Block& proto, const std::string& where, int depth);

// The op's name for error messages: its "name" attribute if it is a string literal.
std::string op_label(const spec::Operation& proto, int index) {
  const auto it = proto.attributes().find("name");
  if (it != proto.attributes().end() && it->second.has_immediate_value() &&
      it->second.immediate_value().tensor().strings().values_size() == 1) {
    return detail_cat("'", it->second.immediate_value().tensor().strings().values(0), "' (",
                      proto.type(), ")");
  }
  return detail_cat("#", index, " (", proto.type(), ")");
}

mil::Operation convert_operation(spec::Operation& proto, const std::string& where, int depth) {
  check_depth(depth, where);
  mil::Operation out;
  out.type = proto.type();
  for (const std::string& key : sorted_keys(proto.inputs())) {
    const std::string input_where = detail_cat(where, ", input ", key);
    mil::Argument argument;
    for (const auto& binding : proto.inputs().at(key).arguments()) {
      switch (binding.binding_case()) {
        case spec::Argument::Binding::kName:
          argument.bindings.push_back({binding.name(), {}});
          break;
        case spec::Argument::Binding::kValue:
          argument.bindings.push_back({{}, convert_value(binding.value(), input_where, depth + 1)});
          break;
        case spec::Argument::Binding::BINDING_NOT_SET:
          fail(ErrorCode::kParse, input_where, ": binding has neither a name nor a value");
      }
    }
    out.inputs.emplace(key, std::move(argument));
  }
  out.outputs = convert_named_types(proto.outputs(), detail_cat(where, ", outputs"), depth + 1);
  for (int i = 0; i < proto.blocks_size(); ++i) {
    out.blocks.push_back(
        convert_block(*proto.mutable_blocks(i), detail_cat(where, ", block ", i), depth + 1));
  }
  out.attributes = convert_attributes(proto.attributes(), where, depth);
  return out;
}

// Consumes `proto`'s operations: each one's protobuf is freed once converted, so that a large
// program is not held in both forms at once (the IR reuses the memory the protobuf gave back).
mil::Block convert_block(spec::Block& proto, const std::string& where, int depth) {
  check_depth(depth, where);
  mil::Block out;
  out.inputs = convert_named_types(proto.inputs(), detail_cat(where, ", block inputs"), depth + 1);
  out.outputs.assign(proto.outputs().begin(), proto.outputs().end());
  out.operations.reserve(static_cast<size_t>(proto.operations_size()));
  for (int i = 0; i < proto.operations_size(); ++i) {
    spec::Operation& op = *proto.mutable_operations(i);
    out.operations.push_back(
        convert_operation(op, detail_cat(where, ", op ", op_label(op, i)), depth + 1));
    spec::Operation().Swap(&op);  // the temporary takes the op's contents and frees them
  }
  out.attributes = convert_attributes(proto.attributes(), detail_cat(where, ", block"), depth);
  return out;
}

mil::Function convert_function(const std::string& name, spec::Function& proto,
                               const std::string& source) {
  const std::string where = detail_cat(source, ": function ", name);
  mil::Function out;
  out.name = name;
  out.opset = proto.opset();
  out.inputs = convert_named_types(proto.inputs(), detail_cat(where, ", inputs"), 1);
  const auto block = proto.mutable_block_specializations()->find(proto.opset());
  if (block == proto.mutable_block_specializations()->end()) {
    std::string available;
    for (const std::string& key : sorted_keys(proto.block_specializations())) {
      available += available.empty() ? key : ", " + key;
    }
    fail(ErrorCode::kParse, where, ": no block for its opset '", proto.opset(),
         "' (blocks: ", available.empty() ? "none" : available, ")");
  }
  out.block = convert_block(block->second, where, 1);
  out.attributes = convert_attributes(proto.attributes(), where, 1);
  return out;
}

}  // namespace

mil::Program convert_program(spec::Program& proto, const std::string& source) {
  mil::Program out;
  out.version = proto.version();
  if (proto.functions().empty()) fail(ErrorCode::kParse, source, ": ML program has no functions");
  for (const std::string& name : sorted_keys(proto.functions())) {
    out.functions.push_back(convert_function(name, proto.mutable_functions()->at(name), source));
  }
  out.attributes = convert_attributes(proto.attributes(), detail_cat(source, ": program"), 0);
  return out;
}

}  // namespace coreml::format::detail
