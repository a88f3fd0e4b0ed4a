// metadata.json of compiled models: the description keys Apple's compiler writes.
#include <gtest/gtest.h>

#include "coreml/error.h"
#include "format/file_util.h"
#include "format/mlmodelc_metadata.h"
#include "format/shape_text.h"
#include "support/run_command.h"

namespace coreml::format {
namespace {

TEST(ShapeText, ParsesListsAndNestedLists) {
  EXPECT_EQ(parse_shape_list("[1, 64, 1024]", "t"), (std::vector<int64_t>{1, 64, 1024}));
  EXPECT_EQ(parse_shape_list(" [ ] ", "t"), std::vector<int64_t>{});
  EXPECT_EQ(parse_shape_lists("[[1, 1], [1, -1]]", "t"),
            (std::vector<std::vector<int64_t>>{{1, 1}, {1, -1}}));
}

TEST(ShapeText, RejectsMalformed) {
  for (const char* bad : {"", "[", "[1,", "[1 2]", "[1]x", "[a]", "[99999999999999999999]"}) {
    EXPECT_THROW(parse_shape_list(bad, "where"), Error) << bad;
  }
  try {
    parse_shape_list("[1, x]", "meta.json: inputSchema[0].shape");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("inputSchema[0].shape"), std::string::npos) << e.what();
  }
}

TEST(CompiledMetadata, ReadsEveryField) {
  const std::string path = test::data_path("compiled/enumerated_metadata.json");
  const auto d = read_compiled_metadata(read_small_file(path, 1 << 20), path);
  EXPECT_EQ(d.specification_version, 8);
  EXPECT_EQ(d.model_type, "mlProgram");
  EXPECT_EQ(d.compute_precision, "Mixed (Float16, Float32, Int32)");
  EXPECT_EQ(d.metadata.author, "coreml-cpp tests");
  EXPECT_EQ(d.metadata.license, "MIT");
  EXPECT_EQ(d.metadata.version, "1.2");
  EXPECT_EQ(d.metadata.description, "A test model");
  EXPECT_EQ(d.metadata.user.at("context_length"), "512");
  ASSERT_EQ(d.functions.size(), 1u);
  const auto& f = d.functions[0];
  ASSERT_EQ(f.inputs.size(), 3u);
  EXPECT_EQ(f.inputs[0].name, "x");
  EXPECT_EQ(f.inputs[0].dtype, "fp32");
  EXPECT_EQ(f.inputs[0].shape, (std::vector<int64_t>{1, 64}));
  EXPECT_EQ(f.inputs[0].enumerated_shapes, (std::vector<std::vector<int64_t>>{{1, 1}, {1, 64}}));
  EXPECT_EQ(f.inputs[1].dtype, "int32");
  EXPECT_TRUE(f.inputs[1].optional);
  ASSERT_EQ(f.inputs[1].shape_ranges.size(), 2u);
  EXPECT_EQ(f.inputs[1].shape_ranges[1].lower, 1);
  EXPECT_EQ(f.inputs[1].shape_ranges[1].upper, -1);
  EXPECT_EQ(f.inputs[2].kind, FeatureKind::kImage);
  EXPECT_EQ(f.inputs[2].width, 32);
  EXPECT_EQ(f.inputs[2].height, 24);
  EXPECT_EQ(f.inputs[2].color_space, "BGR");
  ASSERT_EQ(f.outputs.size(), 1u);
  EXPECT_EQ(f.outputs[0].dtype, "fp16");
}

TEST(CompiledMetadata, ErrorsNameTheField) {
  const struct {
    const char* json;
    const char* expected;
  } cases[] = {
      {"{", "invalid JSON"},
      {"42", "expected a JSON array"},
      {"[]", "expected an array holding one object"},
      {R"([{"inputSchema": {}}])", "inputSchema"},
      {R"([{"inputSchema": [{"name": "x", "type": "Tensor"}]}])", "unknown feature type"},
      {R"([{"inputSchema": [{"name": "x", "type": "MultiArray", "dataType": "Complex"}]}])",
       "inputSchema[0].dataType"},
      {R"([{"inputSchema": [{"name": "x", "type": "MultiArray", "shape": "[1,"}]}])",
       "inputSchema[0].shape"},
      {R"([{"specificationVersion": "nine"}])", "specificationVersion"},
      {R"([{"functions": [{"inputSchema": []}]}])", "functions[0].name"},
  };
  for (const auto& c : cases) {
    try {
      read_compiled_metadata(c.json, "m/metadata.json");
      ADD_FAILURE() << "no error for " << c.json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos)
          << c.json << " -> " << e.what();
      EXPECT_NE(std::string(e.what()).find("m/metadata.json"), std::string::npos) << e.what();
    }
  }
}

TEST(CompiledMetadata, ModelTypeName) {
  EXPECT_EQ(compiled_model_type(R"([{"modelType": {"name": "MLModelType_neuralNetwork"}}])"),
            "neuralNetwork");
  EXPECT_EQ(compiled_model_type("not json"), "");
}

}  // namespace
}  // namespace coreml::format
