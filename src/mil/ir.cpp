#include "mil/ir.h"

#include <array>
#include <cmath>
#include <cstring>
#include <sstream>

#include "coreml/error.h"
#include "tensor/half.h"

namespace coreml::mil {
namespace {

struct DataTypeInfo {
  DataType type;
  std::string_view name;
  int bits;
  int proto_code;
};

constexpr std::array<DataTypeInfo, 22> kDataTypes{{
    {DataType::kBool, "bool", 8, 1},
    {DataType::kString, "string", 0, 2},
    {DataType::kFloat16, "fp16", 16, 10},
    {DataType::kFloat32, "fp32", 32, 11},
    {DataType::kFloat64, "fp64", 64, 12},
    {DataType::kBFloat16, "bf16", 16, 13},
    {DataType::kInt8, "int8", 8, 21},
    {DataType::kInt16, "int16", 16, 22},
    {DataType::kInt32, "int32", 32, 23},
    {DataType::kInt64, "int64", 64, 24},
    {DataType::kInt4, "int4", 4, 25},
    {DataType::kUInt8, "uint8", 8, 31},
    {DataType::kUInt16, "uint16", 16, 32},
    {DataType::kUInt32, "uint32", 32, 33},
    {DataType::kUInt64, "uint64", 64, 34},
    {DataType::kUInt4, "uint4", 4, 35},
    {DataType::kUInt2, "uint2", 2, 36},
    {DataType::kUInt1, "uint1", 1, 37},
    {DataType::kUInt6, "uint6", 6, 38},
    {DataType::kUInt3, "uint3", 3, 39},
    {DataType::kFloat8E4M3FN, "fp8e4m3fn", 8, 40},
    {DataType::kFloat8E5M2, "fp8e5m2", 8, 41},
}};

const DataTypeInfo& info(DataType type) {
  for (const auto& entry : kDataTypes) {
    if (entry.type == type) return entry;
  }
  fail(ErrorCode::kInternal, "unknown MIL data type ", static_cast<int>(type));
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
void append(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof v);
  std::memcpy(out.data() + at, &v, sizeof v);
}

// Reads sub-byte element i (LSB-first packing) as an unsigned bit field.
uint32_t load_bits(const std::vector<uint8_t>& bytes, int64_t i, int bits) {
  uint32_t v = 0;
  for (int b = 0; b < bits; ++b) {
    const uint64_t bit = static_cast<uint64_t>(i) * bits + b;
    if (bit / 8 >= bytes.size()) fail(ErrorCode::kInvalidArgument, "sub-byte value out of range");
    v |= ((bytes[bit / 8] >> (bit % 8)) & 1u) << b;
  }
  return v;
}

}  // namespace

std::string_view data_type_name(DataType type) { return info(type).name; }

std::optional<DataType> data_type_from_name(std::string_view name) {
  for (const auto& entry : kDataTypes) {
    if (entry.name == name) return entry.type;
  }
  return std::nullopt;
}

int data_type_bits(DataType type) { return info(type).bits; }
int data_type_proto_code(DataType type) { return info(type).proto_code; }

std::optional<DataType> data_type_from_proto_code(int code) {
  for (const auto& entry : kDataTypes) {
    if (entry.proto_code == code) return entry.type;
  }
  return std::nullopt;
}

bool Type::operator==(const Type& other) const {
  return kind == other.kind && tensor == other.tensor && elements == other.elements &&
         length == other.length;
}

Value::Value() = default;

bool Value::operator==(const Value& other) const {
  return kind == other.kind && type == other.type && bytes == other.bytes &&
         strings == other.strings && blob == other.blob && elements == other.elements &&
         entries == other.entries;
}

Value Value::string_scalar(std::string s) {
  Value v;
  v.type = Type::scalar(DataType::kString);
  v.strings.push_back(std::move(s));
  return v;
}

Value Value::bool_scalar(bool b) {
  Value v;
  v.type = Type::scalar(DataType::kBool);
  v.bytes.push_back(b ? 1 : 0);
  return v;
}

Value Value::int_scalar(DataType dtype, int64_t x) {
  Value v;
  v.type = Type::scalar(dtype);
  switch (dtype) {
    case DataType::kBool: v.bytes.push_back(x != 0); break;
    case DataType::kInt8: append(v.bytes, static_cast<int8_t>(x)); break;
    case DataType::kUInt8: append(v.bytes, static_cast<uint8_t>(x)); break;
    case DataType::kInt16: append(v.bytes, static_cast<int16_t>(x)); break;
    case DataType::kUInt16: append(v.bytes, static_cast<uint16_t>(x)); break;
    case DataType::kInt32: append(v.bytes, static_cast<int32_t>(x)); break;
    case DataType::kUInt32: append(v.bytes, static_cast<uint32_t>(x)); break;
    case DataType::kInt64: append(v.bytes, static_cast<int64_t>(x)); break;
    case DataType::kUInt64: append(v.bytes, static_cast<uint64_t>(x)); break;
    default:
      if (data_type_bits(dtype) < 8 && dtype != DataType::kString) {
        const int bits = data_type_bits(dtype);
        v.bytes.push_back(static_cast<uint8_t>(x & ((1 << bits) - 1)));
        break;
      }
      fail(ErrorCode::kInvalidArgument, "int_scalar: ", data_type_name(dtype),
           " is not an integer type");
  }
  return v;
}

Value Value::float_scalar(DataType dtype, double x) {
  Value v;
  v.type = Type::scalar(dtype);
  switch (dtype) {
    case DataType::kFloat16: append(v.bytes, float_to_fp16(static_cast<float>(x))); break;
    case DataType::kBFloat16: append(v.bytes, float_to_bf16(static_cast<float>(x))); break;
    case DataType::kFloat32: append(v.bytes, static_cast<float>(x)); break;
    case DataType::kFloat64: append(v.bytes, x); break;
    default:
      fail(ErrorCode::kInvalidArgument, "float_scalar: ", data_type_name(dtype),
           " is not a floating type");
  }
  return v;
}

int64_t Value::element_count() const {
  const auto& shape = type.tensor.shape;
  if (!shape) return -1;
  int64_t n = 1;
  for (const auto& d : *shape) {
    if (!d.known()) return -1;
    n *= d.size;
  }
  return n;
}

double Value::as_double(int64_t i) const {
  if (kind != Kind::kTensor) fail(ErrorCode::kInvalidArgument, "value is not an immediate tensor");
  const DataType t = type.tensor.dtype;
  if (t == DataType::kString) fail(ErrorCode::kInvalidArgument, "value is a string, not a number");
  const int bits = data_type_bits(t);
  if (bits < 8) {
    const uint32_t raw = load_bits(bytes, i, bits);
    if (t == DataType::kInt4) return static_cast<double>(static_cast<int32_t>(raw << 28) >> 28);
    return raw;
  }
  const size_t width = static_cast<size_t>(bits / 8);
  if (i < 0 || (static_cast<size_t>(i) + 1) * width > bytes.size()) {
    fail(ErrorCode::kInvalidArgument, "element ", i, " is out of range of a ", data_type_name(t),
         " value holding ", bytes.size(), " bytes");
  }
  const uint8_t* p = bytes.data() + static_cast<size_t>(i) * width;
  switch (t) {
    case DataType::kBool: return *p != 0;
    case DataType::kFloat16: return fp16_to_float(load<uint16_t>(p));
    case DataType::kBFloat16: return bf16_to_float(load<uint16_t>(p));
    case DataType::kFloat32: return load<float>(p);
    case DataType::kFloat64: return load<double>(p);
    case DataType::kInt8: return load<int8_t>(p);
    case DataType::kUInt8: return load<uint8_t>(p);
    case DataType::kInt16: return load<int16_t>(p);
    case DataType::kUInt16: return load<uint16_t>(p);
    case DataType::kInt32: return load<int32_t>(p);
    case DataType::kUInt32: return load<uint32_t>(p);
    case DataType::kInt64: return static_cast<double>(load<int64_t>(p));
    case DataType::kUInt64: return static_cast<double>(load<uint64_t>(p));
    default:
      fail(ErrorCode::kUnsupported, "reading ", data_type_name(t), " values is not supported");
  }
}

int64_t Value::as_int(int64_t i) const {
  const DataType t = type.tensor.dtype;
  if (kind == Kind::kTensor && (t == DataType::kInt64 || t == DataType::kUInt64)) {
    if (i < 0 || (static_cast<size_t>(i) + 1) * 8 > bytes.size()) {
      fail(ErrorCode::kInvalidArgument, "element ", i, " is out of range");
    }
    return load<int64_t>(bytes.data() + static_cast<size_t>(i) * 8);
  }
  const double d = as_double(i);
  if (!std::isfinite(d)) fail(ErrorCode::kInvalidArgument, "value ", d, " is not an integer");
  return static_cast<int64_t>(d);
}

const std::string& Value::as_string(int64_t i) const {
  if (kind != Kind::kTensor || type.tensor.dtype != DataType::kString || i < 0 ||
      static_cast<size_t>(i) >= strings.size()) {
    fail(ErrorCode::kInvalidArgument, "value is not a string (or index ", i, " out of range)");
  }
  return strings[static_cast<size_t>(i)];
}

bool Operation::operator==(const Operation& other) const {
  return type == other.type && inputs == other.inputs && outputs == other.outputs &&
         blocks == other.blocks && attributes == other.attributes;
}

std::string Operation::name() const {
  const auto it = attributes.find("name");
  if (it == attributes.end() || it->second.kind != Value::Kind::kTensor ||
      it->second.type.tensor.dtype != DataType::kString || it->second.strings.empty()) {
    return {};
  }
  return it->second.strings.front();
}

const Function* Program::find_function(std::string_view name) const {
  for (const auto& f : functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Function* Program::find_function(std::string_view name) {
  for (auto& f : functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Function take_body(Function& function) {
  Function body;
  body.name = function.name;
  body.opset = function.opset;
  body.inputs = function.inputs;
  body.attributes = function.attributes;
  body.block.inputs = function.block.inputs;
  body.block.outputs = function.block.outputs;
  body.block.attributes = function.block.attributes;
  body.block.operations = std::move(function.block.operations);
  function.block.operations.clear();  // moved-from: valid but unspecified until cleared
  return body;
}

std::string normalize_opset(std::string_view opset) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kMap{{
      {"ios15", "CoreML5"},
      {"ios16", "CoreML6"},
      {"ios17", "CoreML7"},
      {"ios18", "CoreML8"},
      {"ios26", "CoreML9"},
  }};
  for (const auto& [text, proto] : kMap) {
    if (opset == text) return std::string(proto);
  }
  return std::string(opset);
}

std::string to_string(const Type& type) {
  std::ostringstream out;
  auto tensor = [&](const TensorType& t) {
    out << "tensor<" << data_type_name(t.dtype) << ", ";
    if (!t.shape) {
      out << "*";
    } else {
      out << "[";
      for (size_t i = 0; i < t.shape->size(); ++i) {
        const Dim& d = (*t.shape)[i];
        if (i) out << ", ";
        if (d.known()) {
          out << d.size;
        } else {
          out << (d.symbol.empty() ? "?" : d.symbol);
        }
      }
      out << "]";
    }
    out << ">";
  };
  switch (type.kind) {
    case Type::Kind::kTensor: tensor(type.tensor); break;
    case Type::Kind::kState:
      out << "state<";
      tensor(type.tensor);
      out << ">";
      break;
    case Type::Kind::kList:
    case Type::Kind::kTuple:
    case Type::Kind::kDict: {
      out << (type.kind == Type::Kind::kList    ? "list<"
              : type.kind == Type::Kind::kTuple ? "tuple<"
                                                : "dict<");
      for (size_t i = 0; i < type.elements.size(); ++i) {
        if (i) out << ", ";
        out << to_string(type.elements[i]);
      }
      if (type.length) out << ", " << *type.length;
      out << ">";
      break;
    }
  }
  return out.str();
}

std::string to_string(const Value& value) {
  std::ostringstream out;
  switch (value.kind) {
    case Value::Kind::kTensor: {
      out << to_string(value.type) << "(";
      if (value.type.tensor.dtype == DataType::kString) {
        for (size_t i = 0; i < value.strings.size(); ++i)
          out << (i ? ", " : "") << '"' << value.strings[i] << '"';
      } else {
        const int64_t n = value.element_count();
        const int64_t shown = n < 0 ? 0 : std::min<int64_t>(n, 16);
        for (int64_t i = 0; i < shown; ++i) {
          out << (i ? ", " : "");
          try {
            out << value.as_double(i);
          } catch (const Error&) {
            out << "<bad>";
          }
        }
        if (n > shown) out << ", ...";
      }
      out << ")";
      break;
    }
    case Value::Kind::kBlob:
      out << to_string(value.type) << "(BLOBFILE(" << value.blob.path << ", " << value.blob.offset
          << "))";
      break;
    case Value::Kind::kTuple:
    case Value::Kind::kList:
      out << (value.kind == Value::Kind::kTuple ? "tuple(" : "list(");
      for (size_t i = 0; i < value.elements.size(); ++i)
        out << (i ? ", " : "") << to_string(value.elements[i]);
      out << ")";
      break;
    case Value::Kind::kDict:
      out << "dict(";
      for (size_t i = 0; i < value.entries.size(); ++i) {
        out << (i ? ", " : "") << "{" << to_string(value.entries[i].first) << ": "
            << to_string(value.entries[i].second) << "}";
      }
      out << ")";
      break;
  }
  return out.str();
}

namespace {
void print_block(std::ostream& out, const Block& block, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  for (const auto& op : block.operations) {
    out << pad;
    for (size_t i = 0; i < op.outputs.size(); ++i) {
      out << (i ? ", " : "") << to_string(op.outputs[i].type) << " " << op.outputs[i].name;
    }
    if (!op.outputs.empty()) out << " = ";
    out << op.type << "(";
    bool first = true;
    for (const auto& [param, arg] : op.inputs) {
      out << (first ? "" : ", ") << param << " = ";
      first = false;
      if (arg.bindings.size() != 1) out << "(";
      for (size_t i = 0; i < arg.bindings.size(); ++i) {
        out << (i ? ", " : "");
        const Binding& b = arg.bindings[i];
        out << (b.value ? to_string(*b.value) : b.name);
      }
      if (arg.bindings.size() != 1) out << ")";
    }
    out << ")[";
    first = true;
    for (const auto& [key, val] : op.attributes) {
      out << (first ? "" : ", ") << key << " = " << to_string(val);
      first = false;
    }
    out << "]";
    if (!op.blocks.empty()) {
      out << " {\n";
      for (const auto& nested : op.blocks) {
        out << pad << "  block(";
        for (size_t i = 0; i < nested.inputs.size(); ++i)
          out << (i ? ", " : "") << nested.inputs[i].name;
        out << ") {\n";
        print_block(out, nested, indent + 4);
        out << pad << "  } -> (";
        for (size_t i = 0; i < nested.outputs.size(); ++i)
          out << (i ? ", " : "") << nested.outputs[i];
        out << ")\n";
      }
      out << pad << "}";
    }
    out << ";\n";
  }
}
}  // namespace

std::string to_string(const Program& program) {
  std::ostringstream out;
  out << "program(" << program.version << ")\n";
  for (const auto& [key, val] : program.attributes)
    out << "[" << key << " = " << to_string(val) << "]\n";
  for (const auto& f : program.functions) {
    out << "func " << f.name << "<" << f.opset << ">(";
    for (size_t i = 0; i < f.inputs.size(); ++i) {
      out << (i ? ", " : "") << to_string(f.inputs[i].type) << " " << f.inputs[i].name;
    }
    out << ") {\n";
    print_block(out, f.block, 4);
    out << "} -> (";
    for (size_t i = 0; i < f.block.outputs.size(); ++i)
      out << (i ? ", " : "") << f.block.outputs[i];
    out << ");\n";
  }
  return out.str();
}

std::map<std::string, int64_t> count_operations(const Block& block) {
  std::map<std::string, int64_t> counts;
  for (const auto& op : block.operations) {
    ++counts[op.type];
    for (const auto& nested : op.blocks) {
      for (const auto& [type, n] : count_operations(nested)) counts[type] += n;
    }
  }
  return counts;
}

}  // namespace coreml::mil
