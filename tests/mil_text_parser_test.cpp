// Tests of the `model.mil` text parser. Expected bit patterns were computed with NumPy
// (noted next to each), never with the code under test.
#include "format/mil_text_parser.h"

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "coreml/error.h"

namespace coreml::format {
namespace {

using mil::Binding;
using mil::DataType;
using mil::Dim;
using mil::Operation;
using mil::Program;
using mil::TensorType;
using mil::Type;
using mil::Value;

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(COREML_TEST_DATA_DIR) + "/mil/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Program parse_data(const std::string& name) { return parse_mil_text(read_data(name), name); }

// The message of the kParse error parsing `text` throws ("" if it parses).
std::string parse_error(const std::string& text) {
  try {
    parse_mil_text(text, "t.mil");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kParse) << e.what();
    return e.what();
  }
  return "";
}

// Wraps statements into a one-function program; the statements start on line 3.
std::string in_function(const std::string& statements) {
  return "program(1.3)\n{\nfunc main<ios18>(tensor<fp32, [1]> x) {\n" + statements +
         "\n} -> (x);\n}\n";
}

const Operation& op_named(const mil::Block& block, const std::string& name) {
  for (const auto& op : block.operations) {
    if (op.name() == name) return op;
  }
  ADD_FAILURE() << "no op " << name;
  static const Operation none;
  return none;
}

TensorType tensor(DataType dtype, std::vector<int64_t> dims) {
  TensorType t{dtype, std::vector<Dim>{}};
  for (int64_t d : dims) t.shape->push_back(Dim::of(d));
  return t;
}

std::vector<uint8_t> bytes(std::initializer_list<int> values) {
  std::vector<uint8_t> out;
  for (int v : values) out.push_back(static_cast<uint8_t>(v));
  return out;
}

const Value& val(const Operation& op) { return op.attributes.at("val"); }

TEST(MilTextParser, Ios18StatefulProgram) {
  const Program program = parse_data("ios18_stateful.mil");
  EXPECT_EQ(program.version, 1);
  const Value& info = program.attributes.at("buildInfo");
  ASSERT_EQ(info.kind, Value::Kind::kDict);
  EXPECT_EQ(info.type.kind, Type::Kind::kDict);
  ASSERT_EQ(info.entries.size(), 2u);
  EXPECT_EQ(info.entries[0].first, Value::string_scalar("coremlc-component-MIL"));
  EXPECT_EQ(info.entries[1].second, Value::string_scalar("3505.4.1"));

  ASSERT_EQ(program.functions.size(), 2u);
  const mil::Function& main = program.functions[0];
  EXPECT_EQ(main.name, "main");
  EXPECT_EQ(main.opset, "CoreML8");
  ASSERT_EQ(main.inputs.size(), 2u);
  EXPECT_EQ(main.inputs[0].name, "x");
  EXPECT_EQ(main.inputs[0].type, Type::of_tensor(tensor(DataType::kFloat16, {1, 64, 1, 16})));
  EXPECT_EQ(main.inputs[1].name, "kv");
  EXPECT_EQ(main.inputs[1].type, Type::of_state(tensor(DataType::kFloat16, {2, 8, 512, 128})));
  EXPECT_EQ(main.block.outputs, std::vector<std::string>{"y"});
  EXPECT_TRUE(main.block.inputs.empty());
  ASSERT_EQ(main.block.operations.size(), 12u);

  const Operation& pt = main.block.operations[0];
  EXPECT_EQ(pt.type, "const");
  EXPECT_TRUE(pt.inputs.empty());
  ASSERT_EQ(pt.outputs.size(), 1u);
  EXPECT_EQ(pt.outputs[0].name, "pt");
  EXPECT_EQ(pt.outputs[0].type, Type::scalar(DataType::kString));
  EXPECT_EQ(pt.attributes.at("name"), Value::string_scalar("pt"));
  EXPECT_EQ(val(pt), Value::string_scalar("valid"));
  EXPECT_EQ(pt.location.line, 5u);
  EXPECT_EQ(pt.location.column, 13u);

  const Value& st = val(op_named(main.block, "st"));
  EXPECT_EQ(st.type, Type::of_tensor(tensor(DataType::kInt32, {2})));
  EXPECT_EQ(st.bytes, bytes({1, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(val(op_named(main.block, "gr")), Value::int_scalar(DataType::kInt32, 1));

  const Value& w = val(op_named(main.block, "w"));
  EXPECT_EQ(w.kind, Value::Kind::kBlob);
  EXPECT_EQ(w.type, Type::of_tensor(tensor(DataType::kFloat16, {64, 64, 1, 1})));
  EXPECT_EQ(w.blob.path, "@model_path/weights/weight.bin");
  EXPECT_EQ(w.blob.offset, 64u);

  const Operation& conv = op_named(main.block, "y");
  EXPECT_EQ(conv.type, "conv");
  EXPECT_EQ(conv.inputs.size(), 7u);
  EXPECT_EQ(conv.inputs.at("weight").bindings, (std::vector<Binding>{Binding{"w", std::nullopt}}));
  EXPECT_EQ(conv.inputs.at("pad_type").bindings[0].name, "pt");
  EXPECT_EQ(conv.location.line, 11u);

  const Operation& write = op_named(main.block, "w0");
  EXPECT_EQ(write.type, "write_state");
  EXPECT_TRUE(write.outputs.empty());
  EXPECT_EQ(write.inputs.at("data").bindings[0].name, "new_kv");
  EXPECT_EQ(write.inputs.at("input").bindings[0].name, "kv");

  // np.float16(float.fromhex("0x1.5p-17")).view(np.uint16) == 168
  const Value& eps = val(op_named(main.block, "eps"));
  EXPECT_EQ(eps.type, Type::scalar(DataType::kFloat16));
  EXPECT_EQ(eps.bytes, bytes({168, 0}));
  EXPECT_EQ(val(op_named(main.block, "flag")), Value::bool_scalar(true));
  EXPECT_EQ(val(op_named(main.block, "big")).bytes,
            bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));

  const mil::Function& infer = program.functions[1];
  EXPECT_EQ(infer.name, "infer");
  ASSERT_EQ(infer.inputs.size(), 2u);
  EXPECT_EQ(*infer.inputs[0].type.tensor.shape, (std::vector<Dim>{Dim::of(1), Dim::unknown()}));
  EXPECT_EQ(*infer.inputs[1].type.tensor.shape,
            (std::vector<Dim>{Dim::unknown("is0"), Dim::of(4)}));
}

TEST(MilTextParser, Ios16LutProgramWithTensorWrappedScalars) {
  const Program program = parse_data("ios16_lut.mil");
  EXPECT_EQ(program.attributes.at("buildInfo").entries.size(), 3u);
  ASSERT_EQ(program.functions.size(), 1u);
  const mil::Block& block = program.functions[0].block;
  EXPECT_EQ(program.functions[0].opset, "CoreML6");

  const Operation& lut = op_named(block, "w");
  EXPECT_EQ(lut.type, "constexpr_lut_to_dense");
  EXPECT_TRUE(lut.inputs.empty());
  EXPECT_EQ(lut.attributes.size(), 4u);
  EXPECT_EQ(lut.attributes.at("indices").bytes, bytes({27, 228}));
  // np.array([0, 1, -3, float.fromhex("0x1.5798eep-27")], np.float16).view(np.uint16)
  //   == [0, 15360, 49664, 0]
  EXPECT_EQ(lut.attributes.at("lut").bytes, bytes({0, 0, 0x00, 0x3c, 0x00, 0xc2, 0, 0}));
  EXPECT_EQ(lut.attributes.at("shape").type, Type::of_tensor(tensor(DataType::kUInt32, {2})));
  EXPECT_EQ(lut.attributes.at("shape").bytes, bytes({4, 0, 0, 0, 4, 0, 0, 0}));

  const Operation& lut2 = op_named(block, "w2");
  const Value& indices = lut2.attributes.at("indices");
  EXPECT_EQ(indices.kind, Value::Kind::kBlob);
  EXPECT_EQ(indices.type, Type::of_tensor(tensor(DataType::kUInt8, {16})));
  EXPECT_EQ(indices.blob.offset, 128u);
  // np.array([np.inf, -np.inf], np.float16).view(np.uint16) == [31744, 64512]
  EXPECT_EQ(lut2.attributes.at("lut").bytes, bytes({0x00, 0x7c, 0x00, 0xfc}));
}

TEST(MilTextParser, BothDialectsGiveTheSameIr) {
  const std::string v13 = R"(program(1.3)
[buildInfo = dict<string, string>({{"k", "v"}})]
{
  func main<ios17>(tensor<fp16, [2]> x) {
    tensor<fp16, [2]> c = const()[name = string("c"), val = tensor<fp16, [2]>([0x1p+0, 0x1.8p+1])];
    tensor<fp16, [2]> y = add(x = x, y = c)[name = string("y")];
    fp16 s = const()[name = string("s"), val = fp16(-0x1p+0)];
    tensor<fp16, [16]> w = const()[name = string("w"), val = tensor<fp16, [16]>(BLOBFILE(path = string("@model_path/weights/weight.bin"), offset = uint64(64)))];
  } -> (y);
})";
  const std::string v10 = R"(program(1.0)
[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{"k", "v"}})]
{
  func main<ios17>(tensor<fp16, [2]> x) {
    tensor<fp16, [2]> c = const()[name = tensor<string, []>("c"), val = tensor<fp16, [2]>([1, 3.0])];
    tensor<fp16, [2]> y = add(x = x, y = c)[name = tensor<string, []>("y")];
    tensor<fp16, []> s = const()[name = tensor<string, []>("s"), val = tensor<fp16, []>(-1)];
    tensor<fp16, [16]> w = const()[name = tensor<string, []>("w"), val = tensor<fp16, [16]>(BLOBFILE(path = tensor<string, []>("@model_path/weights/weight.bin"), offset = tensor<uint64, []>(64)))];
  } -> (y);
})";
  const Program a = parse_mil_text(v13, "a.mil");
  const Program b = parse_mil_text(v10, "b.mil");
  EXPECT_EQ(a, b) << mil::to_string(a) << "\n" << mil::to_string(b);
  // np.array([1, 3], np.float16).view(np.uint16) == [15360, 16896]
  EXPECT_EQ(val(a.functions[0].block.operations[0]).bytes, bytes({0x00, 0x3c, 0x00, 0x42}));
  // np.float16(-1).view(np.uint16) == 48128
  EXPECT_EQ(val(a.functions[0].block.operations[2]).bytes, bytes({0x00, 0xbc}));
}

TEST(MilTextParser, ControlFlowAndLiteralKinds) {
  const Program program = parse_data("control_flow.mil");
  EXPECT_TRUE(program.attributes.empty());
  const mil::Function& main = program.functions.at(0);
  EXPECT_EQ(main.opset, "CoreML7");
  EXPECT_EQ(main.block.outputs, (std::vector<std::string>{"c", "z"}));
  const mil::Block& block = main.block;

  const Operation& split = op_named(block, "split_0");
  ASSERT_EQ(split.outputs.size(), 2u);
  EXPECT_EQ(split.outputs[0].name, "a");
  EXPECT_EQ(split.outputs[1].name, "b");
  EXPECT_EQ(split.outputs[1].type, Type::of_tensor(tensor(DataType::kFloat32, {2, 3})));
  EXPECT_EQ(split.inputs.at("num_splits").bindings[0].value,
            Value::int_scalar(DataType::kInt32, 2));

  const Operation& concat = op_named(block, "concat_0");
  EXPECT_EQ(concat.inputs.at("values").bindings,
            (std::vector<Binding>{Binding{"a", std::nullopt}, Binding{"b", std::nullopt}}));
  EXPECT_EQ(concat.inputs.at("axis").bindings[0].value->bytes, bytes({0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(concat.inputs.at("interleave").bindings[0].value, Value::bool_scalar(false));

  const Operation& cond = op_named(block, "cond_0");
  EXPECT_EQ(cond.type, "cond");
  ASSERT_EQ(cond.blocks.size(), 2u);
  EXPECT_TRUE(cond.blocks[0].inputs.empty());
  EXPECT_EQ(cond.blocks[0].outputs, std::vector<std::string>{"t"});
  EXPECT_EQ(cond.blocks[1].outputs, std::vector<std::string>{"e"});
  ASSERT_EQ(cond.blocks[1].operations.size(), 1u);
  // np.float32(-1).view(np.uint32) == 0xbf800000
  EXPECT_EQ(cond.blocks[1].operations[0].inputs.at("y").bindings[0].value->bytes,
            bytes({0x00, 0x00, 0x80, 0xbf}));

  const Operation& loop = op_named(block, "loop");
  ASSERT_EQ(loop.outputs.size(), 2u);
  EXPECT_EQ(loop.outputs[0].type, Type::scalar(DataType::kInt32));
  const auto& loop_vars = loop.inputs.at("loop_vars").bindings;
  ASSERT_EQ(loop_vars.size(), 2u);
  EXPECT_EQ(loop_vars[0].value, Value::int_scalar(DataType::kInt32, 0));
  EXPECT_EQ(loop_vars[1].name, "y");
  ASSERT_EQ(loop.blocks.size(), 2u);
  ASSERT_EQ(loop.blocks[0].inputs.size(), 2u);
  EXPECT_EQ(loop.blocks[0].inputs[0].name, "i");
  EXPECT_EQ(loop.blocks[0].inputs[1].type, Type::of_tensor(tensor(DataType::kFloat32, {2, 6})));
  EXPECT_EQ(loop.blocks[0].outputs, std::vector<std::string>{"keep"});
  EXPECT_EQ(loop.blocks[1].outputs, (std::vector<std::string>{"i1", "v"}));
  EXPECT_EQ(mil::count_operations(block).at("add"), 1);

  // np.array([1.5, -2, 3, 1e-3], np.float32).view(np.uint32)
  //   == [0x3fc00000, 0xc0000000, 0x40400000, 0x3a83126f]
  EXPECT_EQ(val(op_named(block, "m")).bytes,
            bytes({0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x40, 0x40, 0x6f,
                   0x12, 0x83, 0x3a}));
  // np.array([-128, 0, 127], np.int8).view(np.uint8) == [128, 0, 127]
  EXPECT_EQ(val(op_named(block, "i8")).bytes, bytes({128, 0, 127}));
  // np.packbits(<4 low bits of [1, 15, 7], LSB first>, bitorder="little") == [241, 7]
  EXPECT_EQ(val(op_named(block, "u4")).bytes, bytes({241, 7}));
  // the same for int4 [-8, 7] == [120]
  EXPECT_EQ(val(op_named(block, "s4")).bytes, bytes({120}));
  EXPECT_EQ(val(op_named(block, "bs")).bytes, bytes({1, 0, 1}));
  EXPECT_EQ(val(op_named(block, "ss")).strings, (std::vector<std::string>{"a\"b", "c\\d\n"}));
  EXPECT_EQ(val(op_named(block, "l")).bytes, bytes({0, 0, 0, 0, 0, 0, 0, 0x80}));
  // np.float16(np.nan).view(np.uint16) == 0x7e00
  EXPECT_EQ(val(op_named(block, "h")).bytes, bytes({0x00, 0x7e}));
  // np.float32(1.5).view(np.uint32) >> 16 == 0x3fc0
  EXPECT_EQ(val(op_named(block, "bf")).bytes, bytes({0xc0, 0x3f}));
  // np.float64(0.1).view(np.uint64) == 0x3fb999999999999a
  EXPECT_EQ(val(op_named(block, "d")).bytes,
            bytes({0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f}));
  const Value& q = val(op_named(block, "q"));
  EXPECT_EQ(q.type, Type::of_tensor(tensor(DataType::kInt32, {3})));  // `?` from the literal
  EXPECT_EQ(q.bytes, bytes({5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0}));
  const Value& li = val(op_named(block, "li"));
  EXPECT_EQ(li.kind, Value::Kind::kList);
  ASSERT_EQ(li.elements.size(), 2u);
  EXPECT_EQ(li.elements[1], Value::int_scalar(DataType::kInt32, 2));
  const Value& tu = val(op_named(block, "tu"));
  EXPECT_EQ(tu.kind, Value::Kind::kTuple);
  ASSERT_EQ(tu.elements.size(), 2u);
  EXPECT_EQ(tu.elements[0], Value::string_scalar("k"));
  EXPECT_EQ(tu.elements[1], Value::int_scalar(DataType::kInt32, 4));
}

TEST(MilTextParser, NestedTensorLiteralMatchesFlat) {
  const Program nested =
      parse_mil_text(in_function("tensor<int32, [2, 2]> c = const()[name = string(\"c\"), val = "
                                 "tensor<int32, [2, 2]>([[1, 2], [3, 4]])];"),
                     "n.mil");
  const Program flat =
      parse_mil_text(in_function("tensor<int32, [2, 2]> c = const()[name = string(\"c\"), val = "
                                 "tensor<int32, [2, 2]>([1, 2, 3, 4])];"),
                     "f.mil");
  EXPECT_EQ(nested, flat);
}

TEST(MilTextParser, FunctionAttributesAndHexIntegers) {
  const Program program = parse_mil_text(
      "program(1.0) {\n"
      "  func main<ios17>(tensor<int32, [1, ?]> ids) [FlexibleShapeInformation = "
      "tuple<tuple<tensor<string, []>, dict<tensor<string, []>, tensor<int32, [?]>>>>("
      "((\"DefaultShapes\", {{\"ids\", [1, 1]}})))] {\n"
      "    tensor<int32, []> k = const()[name = tensor<string, []>(\"k\"), val = "
      "tensor<int32, []>(0x10)];\n"
      "  } -> (ids);\n"
      "}\n",
      "f.mil");
  const mil::Function& main = program.functions.at(0);
  const Value& info = main.attributes.at("FlexibleShapeInformation");
  ASSERT_EQ(info.kind, Value::Kind::kTuple);
  ASSERT_EQ(info.elements.size(), 1u);
  ASSERT_EQ(info.elements[0].elements.size(), 2u);
  EXPECT_EQ(info.elements[0].elements[0], Value::string_scalar("DefaultShapes"));
  const Value& shapes = info.elements[0].elements[1];
  ASSERT_EQ(shapes.entries.size(), 1u);
  EXPECT_EQ(shapes.entries[0].second.bytes, bytes({1, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(val(main.block.operations[0]), Value::int_scalar(DataType::kInt32, 16));
}

struct BadInput {
  const char* what;
  std::string text;
  std::string message;  // expected to appear in the error
};

class MilTextParserErrors : public ::testing::TestWithParam<BadInput> {};

TEST_P(MilTextParserErrors, ReportsLineAndColumn) {
  const BadInput& bad = GetParam();
  const std::string message = parse_error(bad.text);
  EXPECT_NE(message.find(bad.message), std::string::npos)
      << bad.what << ": got \"" << message << "\", want \"" << bad.message << "\"";
}

const std::string kConst = "tensor<int32, [3]> c = const()[name = string(\"c\"), val = ";

INSTANTIATE_TEST_SUITE_P(
    Malformed, MilTextParserErrors,
    ::testing::Values(
        BadInput{"missing semicolon",
                 in_function("tensor<fp32, [1]> y = relu(x = x)[name = string(\"y\")]\n"),
                 "t.mil:6:1: expected ';', found '}'"},
        BadInput{"bad type", in_function("tensor<fp32, 1> y = relu(x = x);"),
                 "t.mil:4:14: expected '[', found number 1"},
        BadInput{"unterminated string", in_function("  fp32 y = relu(x = x)[name = string(\"y);"),
                 "t.mil:4:38: unterminated string"},
        BadInput{"too few literal elements", in_function(kConst + "tensor<int32, [3]>([1, 2])];"),
                 "t.mil:4:83: expected 3 elements for tensor<int32, [3]>, not 2, found ')'"},
        BadInput{"too many literal elements",
                 in_function(kConst + "tensor<int32, [3]>([1, 2, 3, 4])];"),
                 "t.mil:4:87: expected ']' (tensor<int32, [3]> has 3 elements)"},
        BadInput{"unknown dtype", in_function("tensor<float32, [1]> y = relu(x = x);"),
                 "t.mil:4:8: expected a data type (fp16, fp32, int32, bool, string, ...), found "
                 "'float32'"},
        BadInput{"deep literal nesting",
                 in_function(kConst + "tensor<int32, [1]>(" + std::string(100, '[') + "1" +
                             std::string(100, ']') + ")];"),
                 "nesting deeper than 64 levels"},
        BadInput{"truncated file", "program(1.3)\n{\n  func main<ios18>(tensor<fp32, [1]> x) {\n",
                 "t.mil:4:1: expected a statement (a type or an op), found end of file"},
        BadInput{"truncated in a statement",
                 "program(1.3)\n{\n  func main<ios18>(tensor<fp32, [1]> x) {\n    fp32 y = relu(",
                 "t.mil:4:19: expected a parameter name, found end of file"},
        BadInput{"garbage bytes", in_function("  \xff\xfe"),
                 "t.mil:4:3: expected a token, found byte 0xFF"},
        BadInput{"int32 overflow",
                 in_function("int32 c = const()[name = string(\"c\"), val = int32(2147483648)];"),
                 "t.mil:4:51: expected an int32 value (out of range), found number 2147483648"},
        BadInput{"uint64 overflow",
                 in_function("uint64 c = const()[val = uint64(18446744073709551616)];"),
                 "t.mil:4:33: expected a uint64 value (out of range)"},
        BadInput{"float overflow", in_function("fp32 c = const()[val = fp32(1e999)];"),
                 "t.mil:4:29: expected a fp32 value, found number 1e999"},
        BadInput{"huge dimension",
                 in_function("tensor<fp32, [99999999999999999999]> y = relu(x = x);"),
                 "t.mil:4:15: expected a dimension"},
        BadInput{"huge literal shape",
                 in_function("tensor<fp32, [65536, 65536]> c = const()[val = "
                             "tensor<fp32, [65536, 65536]>([1])];"),
                 "t.mil:4:48: a literal of type tensor<fp32, [65536, 65536]> is too large"},
        BadInput{"float for an integer", in_function("int32 c = const()[val = int32(1.5)];"),
                 "t.mil:4:31: expected an int32 value, found number 1.5"},
        BadInput{"ragged literal",
                 in_function("tensor<int32, [?, ?]> c = const()[val = "
                             "tensor<int32, [?, ?]>([[1, 2], [3]])];"),
                 "t.mil:4:72: ragged tensor literal"},
        BadInput{"unterminated comment", in_function("/* never closed"),
                 "t.mil:4:1: unterminated /* comment"},
        BadInput{"bad escape", in_function("string c = const()[val = string(\"a\\qb\")];"),
                 "t.mil:4:35: expected a string escape, found 'q'"},
        BadInput{"duplicate parameter", in_function("fp32 y = add(x = x, x = x);"),
                 "t.mil:4:21: parameter 'x' is given twice"},
        BadInput{"blob without offset",
                 in_function("tensor<fp16, [4]> w = const()[val = tensor<fp16, [4]>(BLOBFILE(path "
                             "= string(\"w.bin\")))];"),
                 "t.mil:4:86: expected 'offset', found ')'"},
        BadInput{"missing program", "func main() {} -> ();", "t.mil:1:1: expected 'program'"},
        BadInput{"text after the program", in_function("") + "extra",
                 "t.mil:7:1: expected end of file, found 'extra'"},
        BadInput{"statement starting with a number", in_function("3 = relu(x = x);"),
                 "t.mil:4:1: expected a statement (a type or an op), found number 3"}),
    [](const ::testing::TestParamInfo<BadInput>& param_info) {
      std::string name;
      for (char c : std::string(param_info.param.what))
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(MilTextParser, DeepTypeNestingIsRejected) {
  std::string type = "tensor<fp32, [1]>";
  for (int i = 0; i < 100; ++i) type = "list<" + type + ">";
  const std::string message = parse_error(in_function(type + " y = relu(x = x);"));
  EXPECT_NE(message.find("t.mil:4:"), std::string::npos) << message;
  EXPECT_NE(message.find("nesting deeper than 64 levels"), std::string::npos) << message;
}

TEST(MilTextParser, DeepBlockNestingIsRejected) {
  std::string body = "fp32 y = relu(x = x);";
  for (int i = 0; i < 100; ++i) {
    body = "fp32 y = cond(pred = p) { a() {" + body + "} -> (y); };";
  }
  EXPECT_NE(parse_error(in_function(body)).find("nesting deeper than 64 levels"),
            std::string::npos);
}

TEST(MilTextParser, UnknownProgramVersionIsUnsupported) {
  try {
    parse_mil_text("program(2.0) {}", "v.mil");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("v.mil:1:9"), std::string::npos) << e.what();
  }
}

TEST(MilTextParser, EveryTruncationOfTheSamplesFailsCleanly) {
  for (const char* name : {"ios18_stateful.mil", "ios16_lut.mil", "control_flow.mil"}) {
    const std::string text = read_data(name);
    // The last '}' closes the program; any shorter prefix must be a parse error.
    const size_t end = text.rfind('}');
    for (size_t n = 0; n <= end; n += 7) {
      const std::string message = parse_error(text.substr(0, n));
      EXPECT_NE(message.find("t.mil:"), std::string::npos) << name << " cut at " << n;
    }
  }
}

// take_body (mil/ir.h) hands a function's operations to a runtime that keeps them: the body
// equals the function as parsed, and what stays is the signature with no operations.
TEST(MilIr, TakeBodyMovesTheOperationsAndLeavesTheSignature) {
  const std::string text = R"(program(1.3)
{
  func main<ios17>(tensor<fp16, [2]> x) {
    tensor<fp16, [2]> c = const()[name = string("c"), val = tensor<fp16, [2]>([0x1p+0, 0x1.8p+1])];
    tensor<fp16, [2]> y = add(x = x, y = c)[name = string("y")];
  } -> (y);
})";
  Program program = parse_mil_text(text, "t.mil");
  const Program parsed = parse_mil_text(text, "t.mil");
  mil::Function* function = program.find_function("main");
  ASSERT_NE(function, nullptr);
  const mil::Function body = mil::take_body(*function);
  EXPECT_EQ(body, parsed.functions.at(0));
  EXPECT_TRUE(function->block.operations.empty());
  EXPECT_EQ(function->name, "main");
  EXPECT_EQ(function->opset, parsed.functions.at(0).opset);
  EXPECT_EQ(function->inputs, parsed.functions.at(0).inputs);
  EXPECT_EQ(function->block.outputs, std::vector<std::string>{"y"});
}

}  // namespace
}  // namespace coreml::format
