// read_model_spec against .mlmodel fixtures written by tools/fixtures/make_proto_fixtures.py.
// Every expectation comes from that script's JSON, computed with coremltools' protobuf classes
// and NumPy, never from the reader itself.
#include "format/mlmodel_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "coreml/error.h"
#include "format/mlmodel_program.h"

namespace coreml::format {
namespace {

using nlohmann::json;

const std::string kDataDir = std::string(COREML_TEST_DATA_DIR) + "/proto/";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

json read_json(const std::string& path) { return json::parse(read_bytes(path)); }

void expect_type(const json& want, const mil::Type& got, const std::string& where) {
  SCOPED_TRACE(where + ": " + want.dump() + " vs " + mil::to_string(got));
  const std::string kind = want.at("kind");
  if (kind == "tensor" || kind == "state") {
    ASSERT_EQ(got.kind, kind == "tensor" ? mil::Type::Kind::kTensor : mil::Type::Kind::kState);
    EXPECT_EQ(mil::data_type_name(got.tensor.dtype), want.at("dtype").get<std::string>());
    if (want.at("shape").is_null()) {
      EXPECT_FALSE(got.tensor.shape.has_value());
      return;
    }
    ASSERT_TRUE(got.tensor.shape.has_value());
    const auto& dims = *got.tensor.shape;
    ASSERT_EQ(dims.size(), want.at("shape").size());
    for (size_t i = 0; i < dims.size(); ++i) {
      const json& d = want.at("shape")[i];
      if (d.is_null()) {
        EXPECT_FALSE(dims[i].known());
      } else {
        EXPECT_EQ(dims[i].size, d.get<int64_t>());
      }
    }
    return;
  }
  const mil::Type::Kind expected_kind = kind == "list"    ? mil::Type::Kind::kList
                                        : kind == "tuple" ? mil::Type::Kind::kTuple
                                                          : mil::Type::Kind::kDict;
  ASSERT_EQ(got.kind, expected_kind);
  ASSERT_EQ(got.elements.size(), want.at("elements").size());
  for (size_t i = 0; i < got.elements.size(); ++i) {
    expect_type(want.at("elements")[i], got.elements[i], where);
  }
  if (kind == "list") {
    if (want.at("length").is_null()) {
      EXPECT_FALSE(got.length.has_value());
    } else {
      ASSERT_TRUE(got.length.has_value());
      EXPECT_EQ(*got.length, want.at("length").get<int64_t>());
    }
  }
}

void expect_value(const json& want, const mil::Value& got, const std::string& where) {
  SCOPED_TRACE(where + ": " + mil::to_string(got));
  expect_type(want.at("type"), got.type, where);
  const std::string kind = want.at("kind");
  if (kind == "blob") {
    ASSERT_EQ(got.kind, mil::Value::Kind::kBlob);
    EXPECT_EQ(got.blob.path, want.at("path").get<std::string>());
    EXPECT_EQ(got.blob.offset, want.at("offset").get<uint64_t>());
    return;
  }
  if (kind == "tensor") {
    ASSERT_EQ(got.kind, mil::Value::Kind::kTensor);
    const json& values = want.at("values");
    ASSERT_EQ(got.element_count(), static_cast<int64_t>(values.size()));
    const mil::DataType dtype = got.type.tensor.dtype;
    if (dtype == mil::DataType::kString) {
      ASSERT_EQ(got.strings.size(), values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        EXPECT_EQ(got.as_string(static_cast<int64_t>(i)), values[i].get<std::string>());
      }
      return;
    }
    // Packed exactly as stored: element count times the element width, rounded up to bytes.
    const auto bits = static_cast<size_t>(mil::data_type_bits(dtype));
    EXPECT_EQ(got.bytes.size(), (values.size() * bits + 7) / 8);
    for (size_t i = 0; i < values.size(); ++i) {
      const auto index = static_cast<int64_t>(i);
      if (values[i].is_number_float()) {
        EXPECT_EQ(got.as_double(index), values[i].get<double>()) << "element " << i;
      } else {
        EXPECT_EQ(got.as_int(index), values[i].get<int64_t>()) << "element " << i;
      }
    }
    return;
  }
  if (kind == "tuple" || kind == "list") {
    ASSERT_EQ(got.kind, kind == "tuple" ? mil::Value::Kind::kTuple : mil::Value::Kind::kList);
    ASSERT_EQ(got.elements.size(), want.at("elements").size());
    for (size_t i = 0; i < got.elements.size(); ++i) {
      expect_value(want.at("elements")[i], got.elements[i], where);
    }
    return;
  }
  ASSERT_EQ(got.kind, mil::Value::Kind::kDict);
  ASSERT_EQ(got.entries.size(), want.at("entries").size());
  for (size_t i = 0; i < got.entries.size(); ++i) {
    expect_value(want.at("entries")[i][0], got.entries[i].first, where + " key");
    expect_value(want.at("entries")[i][1], got.entries[i].second, where + " value");
  }
}

void expect_attributes(const json& want, const std::map<std::string, mil::Value>& got,
                       const std::string& where) {
  ASSERT_EQ(got.size(), want.size()) << where;
  for (const auto& [key, value] : want.items()) {
    const auto it = got.find(key);
    ASSERT_NE(it, got.end()) << where << " lacks attribute " << key;
    expect_value(value, it->second, where + " attribute " + key);
  }
}

void expect_named_types(const json& want, const std::vector<mil::NamedType>& got,
                        const std::string& where) {
  ASSERT_EQ(got.size(), want.size()) << where;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].at("name").get<std::string>()) << where;
    expect_type(want[i].at("type"), got[i].type, where + " " + got[i].name);
  }
}

void expect_block(const json& want, const mil::Block& got, const std::string& where);

void expect_operation(const json& want, const mil::Operation& got, const std::string& where) {
  const std::string here = where + " op " + got.name() + " (" + got.type + ")";
  EXPECT_EQ(got.type, want.at("type").get<std::string>()) << here;
  ASSERT_EQ(got.inputs.size(), want.at("inputs").size()) << here;
  for (const auto& [key, bindings] : want.at("inputs").items()) {
    const auto it = got.inputs.find(key);
    ASSERT_NE(it, got.inputs.end()) << here << " lacks input " << key;
    ASSERT_EQ(it->second.bindings.size(), bindings.size()) << here << " input " << key;
    for (size_t i = 0; i < bindings.size(); ++i) {
      const mil::Binding& binding = it->second.bindings[i];
      if (bindings[i].contains("name")) {
        EXPECT_EQ(binding.name, bindings[i].at("name").get<std::string>()) << here;
        EXPECT_FALSE(binding.value.has_value()) << here;
      } else {
        EXPECT_TRUE(binding.name.empty()) << here;
        ASSERT_TRUE(binding.value.has_value()) << here;
        expect_value(bindings[i].at("value"), *binding.value, here + " input " + key);
      }
    }
  }
  expect_named_types(want.at("outputs"), got.outputs, here + " outputs");
  ASSERT_EQ(got.blocks.size(), want.at("blocks").size()) << here;
  for (size_t i = 0; i < got.blocks.size(); ++i) {
    expect_block(want.at("blocks")[i], got.blocks[i], here + " block " + std::to_string(i));
  }
  expect_attributes(want.at("attributes"), got.attributes, here);
}

void expect_block(const json& want, const mil::Block& got, const std::string& where) {
  expect_named_types(want.at("inputs"), got.inputs, where + " inputs");
  EXPECT_EQ(got.outputs, want.at("outputs").get<std::vector<std::string>>()) << where;
  ASSERT_EQ(got.operations.size(), want.at("operations").size()) << where;
  for (size_t i = 0; i < got.operations.size(); ++i) {
    expect_operation(want.at("operations")[i], got.operations[i], where);
  }
  expect_attributes(want.at("attributes"), got.attributes, where);
}

void expect_program(const json& want, const mil::Program& got) {
  EXPECT_EQ(got.version, want.at("version").get<int64_t>());
  ASSERT_EQ(got.functions.size(), want.at("functions").size());
  for (size_t i = 0; i < got.functions.size(); ++i) {
    const json& wf = want.at("functions")[i];
    const mil::Function& f = got.functions[i];
    EXPECT_EQ(f.name, wf.at("name").get<std::string>());
    EXPECT_EQ(f.opset, wf.at("opset").get<std::string>());
    expect_named_types(wf.at("inputs"), f.inputs, "function " + f.name + " inputs");
    expect_block(wf.at("block"), f.block, "function " + f.name);
    expect_attributes(wf.at("attributes"), f.attributes, "function " + f.name);
  }
  expect_attributes(want.at("attributes"), got.attributes, "program");
}

void expect_features(const json& want, const std::vector<FeatureDescription>& got) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const json& w = want[i];
    const FeatureDescription& f = got[i];
    SCOPED_TRACE("feature " + f.name);
    EXPECT_EQ(f.name, w.at("name").get<std::string>());
    EXPECT_EQ(f.short_description, w.at("short_description").get<std::string>());
    EXPECT_EQ(feature_kind_name(f.kind), w.at("kind").get<std::string>());
    EXPECT_EQ(f.dtype, w.at("dtype").get<std::string>());
    EXPECT_EQ(f.shape, w.at("shape").get<std::vector<int64_t>>());
    EXPECT_EQ(f.enumerated_shapes,
              w.at("enumerated_shapes").get<std::vector<std::vector<int64_t>>>());
    ASSERT_EQ(f.shape_ranges.size(), w.at("shape_ranges").size());
    for (size_t r = 0; r < f.shape_ranges.size(); ++r) {
      EXPECT_EQ(f.shape_ranges[r].lower, w.at("shape_ranges")[r][0].get<int64_t>());
      EXPECT_EQ(f.shape_ranges[r].upper, w.at("shape_ranges")[r][1].get<int64_t>());
    }
    EXPECT_EQ(f.optional, w.at("optional").get<bool>());
    EXPECT_EQ(f.width, w.at("width").get<int64_t>());
    EXPECT_EQ(f.height, w.at("height").get<int64_t>());
    EXPECT_EQ(f.color_space, w.at("color_space").get<std::string>());
  }
}

void expect_description(const json& want, const ModelDescription& got) {
  EXPECT_EQ(got.specification_version, want.at("specification_version").get<int>());
  EXPECT_EQ(got.model_type, want.at("model_type").get<std::string>());
  EXPECT_EQ(got.default_function, want.at("default_function").get<std::string>());
  ASSERT_EQ(got.functions.size(), want.at("functions").size());
  for (size_t i = 0; i < got.functions.size(); ++i) {
    const json& wf = want.at("functions")[i];
    const FunctionDescription& f = got.functions[i];
    SCOPED_TRACE("function " + f.name);
    EXPECT_EQ(f.name, wf.at("name").get<std::string>());
    expect_features(wf.at("inputs"), f.inputs);
    expect_features(wf.at("outputs"), f.outputs);
    expect_features(wf.at("states"), f.states);
    // Left for the caller.
    EXPECT_TRUE(f.opset.empty());
    EXPECT_TRUE(f.op_counts.empty());
  }
  const json& m = want.at("metadata");
  EXPECT_EQ(got.metadata.author, m.at("author").get<std::string>());
  EXPECT_EQ(got.metadata.license, m.at("license").get<std::string>());
  EXPECT_EQ(got.metadata.version, m.at("version").get<std::string>());
  EXPECT_EQ(got.metadata.description, m.at("description").get<std::string>());
  EXPECT_EQ(got.metadata.user, (m.at("user").get<std::map<std::string, std::string>>()));
  EXPECT_TRUE(got.path.empty());
  EXPECT_TRUE(got.format.empty());
}

class GoodModel : public testing::TestWithParam<const char*> {};

TEST_P(GoodModel, MatchesCoremltoolsView) {
  const std::string name = GetParam();
  const ModelSpec spec = read_model_spec(read_bytes(kDataDir + name + ".mlmodel"), name);
  const json expected = read_json(kDataDir + name + ".expected.json");
  expect_program(expected.at("program"), spec.program);
  expect_description(expected.at("description"), spec.description);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoodModel,
                         testing::Values("elementwise", "literals", "stateful", "image",
                                         "multifunction"));

// The conversion frees each operation's protobuf once converted (a large program is not held
// in both forms), and what it returns is still what coremltools sees.
TEST(MlmodelReader, ConversionConsumesTheOperations) {
  const std::string name = "multifunction";
  spec::Model model = parse_model_protobuf(read_bytes(kDataDir + name + ".mlmodel"), name);
  spec::Program& proto = *model.mutable_ml_program();
  size_t ops = 0;
  for (const auto& [fname, function] : proto.functions()) {
    for (const auto& [opset, block] : function.block_specializations()) {
      ops += static_cast<size_t>(block.operations_size());
    }
  }
  ASSERT_GT(ops, 0u);
  const mil::Program program = detail::convert_program(proto, name);
  expect_program(read_json(kDataDir + name + ".expected.json").at("program"), program);
  for (const auto& [fname, function] : proto.functions()) {
    EXPECT_FALSE(function.inputs().empty()) << fname;  // the signature stays
    const auto& block = function.block_specializations().at(function.opset());
    for (const auto& op : block.operations()) EXPECT_EQ(op.ByteSizeLong(), 0u) << fname;
  }
}

// A few facts spelled out, so that a wrong JSON generator cannot hide a wrong reader.
TEST(MlmodelReader, ElementwiseByHand) {
  const ModelSpec spec = read_model_spec(read_bytes(kDataDir + "elementwise.mlmodel"), "e");
  ASSERT_EQ(spec.program.functions.size(), 1u);
  const mil::Function& main = spec.program.functions[0];
  EXPECT_EQ(main.name, "main");
  EXPECT_EQ(main.opset, "CoreML8");
  ASSERT_EQ(main.inputs.size(), 1u);
  EXPECT_EQ(main.inputs[0].type,
            mil::Type::of_tensor({mil::DataType::kFloat32, {{mil::Dim::of(2), mil::Dim::of(3)}}}));
  const mil::Operation* concat = nullptr;
  for (const auto& op : main.block.operations) {
    if (op.type == "concat") concat = &op;
  }
  ASSERT_NE(concat, nullptr);
  ASSERT_EQ(concat->inputs.at("values").bindings.size(), 3u);  // variadic input
  EXPECT_EQ(concat->attributes.at("name"), mil::Value::string_scalar("cat_0"));
  EXPECT_EQ(main.block.outputs, std::vector<std::string>{"out"});
  EXPECT_EQ(spec.program.attributes.at("buildInfo").kind, mil::Value::Kind::kDict);
  EXPECT_EQ(spec.description.metadata.author, "coreml-cpp tests");
}

TEST(MlmodelReader, LiteralsByHand) {
  const ModelSpec spec = read_model_spec(read_bytes(kDataDir + "literals.mlmodel"), "l");
  const mil::Block& block = spec.program.functions.at(0).block;
  auto val = [&](const std::string& name) -> const mil::Value& {
    for (const auto& op : block.operations) {
      if (op.name() == name) return op.attributes.at("val");
    }
    throw std::runtime_error("no op " + name);
  };
  EXPECT_EQ(val("c_i32"), mil::Value::int_scalar(mil::DataType::kInt32, 7));
  EXPECT_EQ(val("c_bool"), mil::Value::bool_scalar(true));
  EXPECT_EQ(val("c_f16"), mil::Value::float_scalar(mil::DataType::kFloat16, -0.125));
  EXPECT_EQ(val("c_f32"), mil::Value::float_scalar(mil::DataType::kFloat32, 3.25));
  EXPECT_EQ(val("c_str"), mil::Value::string_scalar("hello"));
  EXPECT_EQ(val("x_u64"), mil::Value::int_scalar(mil::DataType::kUInt64, (int64_t{1} << 62) + 1));
  EXPECT_EQ(val("x_int4").bytes, (std::vector<uint8_t>{0x8F, 0x07}));
  EXPECT_EQ(val("x_u16").bytes, (std::vector<uint8_t>{0xFF, 0xFF, 7, 0}));
  EXPECT_EQ(val("c_i16t").bytes, (std::vector<uint8_t>{0xFD, 0xFF, 0x2C, 0x01}));
  EXPECT_TRUE(val("x_empty").bytes.empty());
}

TEST(MlmodelReader, MalformedAndUnsupportedInputsFailCleanly) {
  const json errors = read_json(kDataDir + "errors.json");
  ASSERT_FALSE(errors.empty());
  for (const auto& [name, want] : errors.items()) {
    SCOPED_TRACE(name);
    const std::string source = name + ".bad";
    try {
      read_model_spec(read_bytes(kDataDir + source), source);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind(source + ": ", 0), 0u) << message;
      EXPECT_NE(message.find(want.at("message").get<std::string>()), std::string::npos) << message;
      EXPECT_EQ(e.code(), want.at("code") == "parse" ? ErrorCode::kParse : ErrorCode::kUnsupported)
          << message;
    }
  }
}

TEST(MlmodelReader, RefusesInputsBeyondTwoGigabytes) {
  static const char byte = 0;
  // Never read: the size check comes first.
  const std::string_view huge(&byte, size_t{3} << 30);
  try {
    read_model_spec(huge, "huge.mlmodel");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("2 GiB"), std::string::npos);
  }
}

TEST(MlmodelReader, EveryTruncationFailsCleanly) {
  const std::string whole = read_bytes(kDataDir + "literals.mlmodel");
  for (size_t n = 0; n < whole.size(); n += 7) {
    try {
      read_model_spec(std::string_view(whole).substr(0, n), "cut");
    } catch (const Error&) {
    }
  }
}

// libprotobuf reports invalid UTF-8 itself, on stderr; that text joins our one error instead.
TEST(MlmodelReader, InvalidUtf8IsOneErrorNamingTheField) {
  std::string bytes = read_bytes(kDataDir + "elementwise.mlmodel");
  const size_t at = bytes.find("coremltools-version");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = static_cast<char>(0xFF);
  testing::internal::CaptureStderr();
  std::string message;
  try {
    read_model_spec(bytes, "bad.mlmodel");
  } catch (const Error& e) {
    message = e.what();
  }
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_EQ(printed, "");
  EXPECT_NE(message.find("bad.mlmodel: not a Core ML model protobuf (protobuf: String field"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("invalid UTF-8"), std::string::npos) << message;
}

}  // namespace
}  // namespace coreml::format
