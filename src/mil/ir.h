// The in-memory program every container is read into: Program -> Functions -> Blocks ->
// Operations. The protobuf loader (.mlpackage/.mlmodel) and the MIL text parser (.mlmodelc)
// both produce exactly this, so that everything downstream (description, validation,
// execution) is written once. Equality (operator==) ignores source locations; a test uses
// it to prove both readers agree.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coreml::mil {

// Every MIL element type (a superset of coreml::DType: sub-byte, unsigned, fp8, string).
enum class DataType : uint8_t {
  kBool,
  kString,
  kFloat16,
  kFloat32,
  kFloat64,
  kBFloat16,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kInt4,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kUInt4,
  kUInt2,
  kUInt1,
  kUInt6,
  kUInt3,
  kFloat8E4M3FN,
  kFloat8E5M2,
};

// MIL spelling ("fp16", "int32", "uint4", "bool", "string", "fp8e4m3fn", ...).
std::string_view data_type_name(DataType type);
std::optional<DataType> data_type_from_name(std::string_view name);
// Bits per element; 0 for string.
int data_type_bits(DataType type);
// The protobuf MILSpec.DataType code and back.
int data_type_proto_code(DataType type);
std::optional<DataType> data_type_from_proto_code(int code);

// One dimension: a known size, or unknown (a named symbol like "is0", or "?"/"" for none).
struct Dim {
  int64_t size = -1;   // >= 0 when known
  std::string symbol;  // set when size < 0 and the writer gave a name
  bool known() const { return size >= 0; }
  static Dim of(int64_t n) { return Dim{n, {}}; }
  static Dim unknown(std::string name = {}) { return Dim{-1, std::move(name)}; }
  bool operator==(const Dim&) const = default;
};

// A tensor; rank 0 is a scalar. `shape` absent = unknown rank.
struct TensorType {
  DataType dtype = DataType::kFloat32;
  std::optional<std::vector<Dim>> shape = std::vector<Dim>{};
  bool is_scalar() const { return shape && shape->empty(); }
  bool operator==(const TensorType&) const = default;
};

struct Type {
  enum class Kind : uint8_t { kTensor, kState, kList, kTuple, kDict };
  Kind kind = Kind::kTensor;
  TensorType tensor;              // kTensor; for kState the wrapped tensor type
  std::vector<Type> elements;     // kTuple: element types; kList: one element type;
                                  // kDict: key type then value type
  std::optional<int64_t> length;  // kList: fixed length if known

  static Type of_tensor(TensorType t) { return Type{Kind::kTensor, std::move(t), {}, {}}; }
  static Type of_state(TensorType t) { return Type{Kind::kState, std::move(t), {}, {}}; }
  static Type scalar(DataType dtype) { return of_tensor(TensorType{dtype, std::vector<Dim>{}}); }
  bool operator==(const Type& other) const;
};

// Where a value or operation came from in a text file (line/column are 1-based; 0 = none).
struct SourceLocation {
  uint32_t line = 0;
  uint32_t column = 0;
};

// A reference into a weight file: `offset` is that of the blob's 64-byte metadata record.
struct BlobRef {
  std::string path;  // as written, e.g. "@model_path/weights/weight.bin"
  uint64_t offset = 0;
  bool operator==(const BlobRef&) const = default;
};

// A literal value: an immediate tensor (including scalars and strings), a blob reference,
// a tuple/list of values, or a dictionary.
struct Value {
  enum class Kind : uint8_t { kTensor, kBlob, kTuple, kList, kDict };
  Kind kind = Kind::kTensor;
  Type type;
  // kTensor, non-string: element data packed as stored on disk — little-endian, bool one byte
  // each, sub-byte types packed LSB-first with the last byte zero-padded.
  std::vector<uint8_t> bytes;
  std::vector<std::string> strings;              // kTensor of dtype string
  BlobRef blob;                                  // kBlob
  std::vector<Value> elements;                   // kTuple, kList
  std::vector<std::pair<Value, Value>> entries;  // kDict

  // Defined (defaulted) in ir.cpp: with clang 14 + libstdc++ 12 an implicit default
  // constructor makes std::pair<Value, Value>'s traits recurse into Value while it is being
  // checked, a hard compile error.
  Value();

  bool operator==(const Value& other) const;

  // Convenience constructors for scalars and 1-D tensors.
  static Value string_scalar(std::string s);
  static Value bool_scalar(bool b);
  static Value int_scalar(DataType dtype, int64_t v);   // any integer dtype, bool
  static Value float_scalar(DataType dtype, double v);  // fp16/bf16/fp32/fp64
  // Number of elements of a kTensor/kBlob value's type (-1 if a dim is unknown).
  int64_t element_count() const;
  // Reads element i of an immediate numeric tensor as double/int64 (converting as needed).
  double as_double(int64_t i = 0) const;
  int64_t as_int(int64_t i = 0) const;
  const std::string& as_string(int64_t i = 0) const;
};

// One binding of an operation input: a named value in scope, or a literal.
struct Binding {
  std::string name;            // set when bound to a name
  std::optional<Value> value;  // set when bound to a literal
  bool operator==(const Binding&) const = default;
};

// An input argument; several bindings make a variadic input (concat's `values`).
struct Argument {
  std::vector<Binding> bindings;
  bool operator==(const Argument&) const = default;
};

struct NamedType {
  std::string name;
  Type type;
  bool operator==(const NamedType&) const = default;
};

struct Block;

struct Operation {
  std::string type;                         // op name: "conv", "const", "write_state", ...
  std::map<std::string, Argument> inputs;   // by parameter name
  std::vector<NamedType> outputs;           // may be empty (write_state)
  std::vector<Block> blocks;                // nested blocks (cond, while_loop)
  std::map<std::string, Value> attributes;  // always "name"; "val" for const
  SourceLocation location;                  // not part of equality
  bool operator==(const Operation& other) const;
  // The op's "name" attribute, or "" if absent.
  std::string name() const;
};

struct Block {
  std::vector<NamedType> inputs;
  std::vector<std::string> outputs;
  std::vector<Operation> operations;
  std::map<std::string, Value> attributes;
  bool operator==(const Block&) const = default;
};

struct Function {
  std::string name;
  // Normalized to coremltools' spelling "CoreML5".."CoreML9" (iOS15..iOS26); MIL text's
  // "ios15".."ios18" are mapped, unknown spellings are kept as written.
  std::string opset;
  std::vector<NamedType> inputs;
  Block block;
  std::map<std::string, Value> attributes;
  bool operator==(const Function&) const = default;
};

struct Program {
  int64_t version = 1;
  std::vector<Function> functions;  // in file order (protobuf maps: sorted by name)
  std::map<std::string, Value> attributes;
  bool operator==(const Program&) const = default;

  const Function* find_function(std::string_view name) const;
  Function* find_function(std::string_view name);
};

// Moves `function`'s operations into a new function that copies the rest (name, opset, inputs,
// attributes, the block's inputs, outputs and attributes); `function` keeps that signature and no
// operations. For a runtime that rewrites and keeps the program itself: the body is held once.
Function take_body(Function& function);

// Maps MIL text opsets ("ios17") to coremltools' ("CoreML7"); others pass through.
std::string normalize_opset(std::string_view opset);

// Debug rendering (used in test failure messages); not a file format.
std::string to_string(const Type& type);
std::string to_string(const Value& value);
std::string to_string(const Program& program);

// Counts operations by type, including those in nested blocks.
std::map<std::string, int64_t> count_operations(const Block& block);

}  // namespace coreml::mil
