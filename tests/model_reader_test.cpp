// Reading every container: descriptions match what coremltools' own protobuf says (the
// *.expected.json files written by tools/fixtures/make_models.py), and the same program read
// from an .mlpackage and from MIL text gives equal IR.
#include "format/model_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "coreml/error.h"
#include "support/run_command.h"

namespace coreml::format {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kModels = fs::path(COREML_TEST_DATA_DIR) / "models";

json load_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kModels)) {
    const std::string file = entry.path().filename().string();
    const std::string suffix = ".expected.json";
    if (file.size() > suffix.size() && file.ends_with(suffix)) {
      names.push_back(file.substr(0, file.size() - suffix.size()));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The description as `coreml info --json` prints it, minus fields the oracle does not know.
json described(const ModelAsset& asset) {
  json j = json::parse(to_json(asset.description));
  j.erase("path");
  return j;
}

TEST(ModelReader, FixturesExist) { EXPECT_GE(fixture_names().size(), 6u); }

TEST(ModelReader, DescriptionsMatchCoremltools) {
  for (const auto& name : fixture_names()) {
    SCOPED_TRACE(name);
    json expected = load_json(kModels / (name + ".expected.json"));
    expected.erase("path");
    // "conv.expected.json" describes conv.mlpackage; "conv.mlmodelc.expected.json" conv.mlmodelc.
    const bool has_container = name.ends_with(".mlmodel") || name.ends_with(".mlmodelc");
    const fs::path path = kModels / (has_container ? name : name + ".mlpackage");
    ASSERT_TRUE(fs::exists(path)) << path;
    const ModelAsset asset = read_model(path);
    EXPECT_EQ(described(asset), expected) << "got:\n"
                                          << described(asset).dump(2) << "\nexpected:\n"
                                          << expected.dump(2);
  }
}

TEST(ModelReader, CompiledFolderGivesTheSameDescriptionAndProgram) {
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(kModels)) {
    if (entry.path().extension() != ".mlmodelc") continue;
    const fs::path package = fs::path(entry.path()).replace_extension(".mlpackage");
    if (!fs::exists(package)) continue;
    SCOPED_TRACE(entry.path().filename().string());
    const ModelAsset compiled = read_model(entry.path());
    const ModelAsset packaged = read_model(package);
    EXPECT_TRUE(compiled.program == packaged.program)
        << "MIL text:\n"
        << mil::to_string(compiled.program) << "\nprotobuf:\n"
        << mil::to_string(packaged.program);
    json a = described(compiled);
    json b = described(packaged);
    for (const char* key : {"format", "compute_precision"}) {
      a.erase(key);
      b.erase(key);
    }
    EXPECT_EQ(a, b);
    ++compared;
  }
  EXPECT_GE(compared, 5);
}

TEST(ModelReader, InfoJsonFromTheCli) {
  const auto r =
      test::run_cli({"info", "--json", (kModels / "stateful_accumulator.mlpackage").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  json expected = load_json(kModels / "stateful_accumulator.expected.json");
  j.erase("path");
  expected.erase("path");
  // What this build's backends can run is not part of the model's description (cli_test
  // checks that list).
  ASSERT_TRUE(j.contains("backends"));
  j.erase("backends");
  EXPECT_EQ(j, expected);
}

TEST(ModelReader, InfoTextMentionsEverything) {
  const auto r = test::run_cli({"info", (kModels / "multifunction.mlpackage").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* word : {"mlpackage", "prefill", "infer", "default", "weights"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word << " in\n" << r.out;
  }
}

// A copy of a fixture that tests may damage.
fs::path scratch_copy(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("coreml_reader_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path target = dir / name;
  fs::remove_all(target);
  fs::copy(kModels / name, target, fs::copy_options::recursive);
  return target;
}

void expect_error(const fs::path& path, const std::string& fragment) {
  try {
    read_model(path);
    ADD_FAILURE() << "no error reading " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(ModelReader, MissingWeightsStillDescribe) {
  const fs::path model = scratch_copy("conv.mlpackage");
  fs::remove(model / "Data/com.apple.CoreML/weights/weight.bin");
  const ModelAsset asset = read_model(model);
  EXPECT_FALSE(asset.description.weights.present);
  ASSERT_EQ(asset.description.weights.missing.size(), 1u);
  const auto r = test::run_cli({"info", model.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("missing"), std::string::npos) << r.out;
}

TEST(ModelReader, BadManifests) {
  const fs::path model = scratch_copy("elementwise.mlpackage");
  const fs::path manifest = model / "Manifest.json";
  write_file(manifest, "{not json");
  expect_error(model, "Manifest.json: invalid JSON");
  write_file(
      manifest,
      R"({"fileFormatVersion": "2.0.0", "rootModelIdentifier": "a", "itemInfoEntries": {}})");
  expect_error(model, "newer than");
  write_file(
      manifest,
      R"({"fileFormatVersion": "1.0.0", "rootModelIdentifier": "a", "itemInfoEntries": {}})");
  expect_error(model, "no entry for rootModelIdentifier");
  write_file(manifest, R"({"fileFormatVersion": "1.0.0", "rootModelIdentifier": "a",
      "itemInfoEntries": {"a": {"path": "../../../etc/passwd"}}})");
  expect_error(model, "inside Data/");
  write_file(manifest, R"({"fileFormatVersion": "1.0.0", "rootModelIdentifier": "a",
      "itemInfoEntries": {"a": {"path": "com.apple.CoreML/missing.mlmodel"}}})");
  expect_error(model, "missing.mlmodel");
}

TEST(ModelReader, GarbledProtobuf) {
  const fs::path model = scratch_copy("elementwise.mlpackage");
  write_file(model / "Data/com.apple.CoreML/model.mlmodel",
             std::string("\xff\xff\xff\xff garbage", 12));
  expect_error(model, "model.mlmodel");
}

TEST(ModelReader, CompiledFolderWithoutProgram) {
  const fs::path model = scratch_copy("elementwise.mlmodelc");
  fs::remove(model / "model.mil");
  expect_error(model, "without model.mil");
  expect_error(model, "pass the .mlmodel or .mlpackage it was compiled from instead");
  write_file(model / "metadata.json", R"([{"modelType": {"name": "MLModelType_neuralNetwork"}}])");
  expect_error(model, "a compiled neuralNetwork model without model.mil");
  expect_error(model, "coremldata.bin and model.espresso.* files");
}

TEST(ModelReader, CompiledClassicAndNeuralNetworkFoldersAreRefusedByType) {
  // What Apple's compiler writes for these types (no model.mil): the type from metadata.json,
  // else model.espresso.net (a neural network) or model0/ (a pipeline's first stage).
  const fs::path scratch =
      fs::temp_directory_path() / ("coreml_reader_test_" + std::to_string(::getpid()));
  const fs::path tree = scratch / "tree.mlmodelc";
  fs::create_directories(tree / "analytics");
  write_file(tree / "coremldata.bin", std::string(64, '\x01'));
  write_file(tree / "metadata.json",
             R"([{"modelType": {"name": "MLModelType_treeEnsembleClassifier"}}])");
  expect_error(tree, tree.string() + ": a compiled treeEnsembleClassifier model without model.mil");
  expect_error(tree, "found: analytics/, coremldata.bin, metadata.json");
  for (const char* command : {"info", "run"}) {
    const auto r = test::run_cli({command, tree.string()});
    EXPECT_NE(r.exit_code, 0) << command;
    EXPECT_NE(r.err.find("pass the .mlmodel or .mlpackage it was compiled from"), std::string::npos)
        << command << ": " << r.err;
  }

  const fs::path network = scratch / "network.mlmodelc";
  fs::create_directories(network);
  for (const char* name :
       {"coremldata.bin", "model.espresso.net", "model.espresso.shape", "model.espresso.weights"}) {
    write_file(network / name, "{}");
  }
  expect_error(network, "a compiled neuralNetwork model without model.mil");

  const fs::path pipeline = scratch / "pipeline.mlmodelc";
  fs::create_directories(pipeline / "model0");
  fs::create_directories(pipeline / "model1");
  write_file(pipeline / "coremldata.bin", "x");
  expect_error(pipeline, "a compiled pipeline model without model.mil");
  for (const auto& folder : {tree, network, pipeline}) fs::remove_all(folder);
}

TEST(ModelReader, MalformedModelMil) {
  const fs::path model = scratch_copy("elementwise.mlmodelc");
  write_file(model / "model.mil", "program(1.3)\n{\n  func main<ios18>(tensor<fp32, [1]> x {\n");
  expect_error(model, "model.mil:3:");
}

TEST(ModelReader, CorruptWeightsAreReportedNotFatalForInfo) {
  const fs::path model = scratch_copy("conv.mlpackage");
  const fs::path weights = model / "Data/com.apple.CoreML/weights/weight.bin";
  std::string bytes(64 + 64, '\0');
  bytes[4] = 2;  // version 2, but the blob records are zero: bad sentinel
  write_file(weights, bytes);
  const ModelAsset asset = read_model(model);
  EXPECT_NE(asset.description.weights.error.find("sentinel"), std::string::npos)
      << asset.description.weights.error;
}

TEST(ModelReader, NotFound) { expect_error("/no/such/model.mlpackage", "no such file"); }

}  // namespace
}  // namespace coreml::format

namespace coreml::format {
namespace {

// Hand-written compiled model: no metadata.json, so the description comes from the program.
TEST(ModelReader, UnknownOpsReadFineAndAreCounted) {
  const ModelAsset asset =
      read_model(fs::path(COREML_TEST_DATA_DIR) / "compiled/unknown_op.mlmodelc");
  const auto& d = asset.description;
  EXPECT_EQ(d.format, "mlmodelc");
  EXPECT_EQ(d.default_function, "main");
  ASSERT_EQ(d.functions.size(), 1u);
  const auto& f = d.functions[0];
  EXPECT_EQ(f.opset, "CoreML8");
  EXPECT_EQ(f.op_counts.at("frobnicate"), 1);
  EXPECT_EQ(f.op_counts.at("split_twice"), 1);
  EXPECT_EQ(f.op_counts.at("write_state"), 1);
  ASSERT_EQ(f.inputs.size(), 1u);
  EXPECT_EQ(f.inputs[0].name, "x");
  ASSERT_EQ(f.states.size(), 1u);
  EXPECT_EQ(f.states[0].name, "memory");
  EXPECT_EQ(f.states[0].kind, FeatureKind::kState);
  ASSERT_EQ(f.outputs.size(), 1u);
  EXPECT_EQ(f.outputs[0].name, "b");
  EXPECT_EQ(f.outputs[0].shape, (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(d.weights.present);
  EXPECT_EQ(d.weights.files, 0);
}

// JSON's \u0000 decodes to a NUL byte, which would cut the path short when opened.
TEST(ModelReader, ManifestPathWithANulIsRefused) {
  const fs::path package = scratch_copy("elementwise.mlpackage");
  std::ifstream in(package / "Manifest.json", std::ios::binary);
  std::string manifest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = manifest.find("CoreML/model.mlmodel");
  ASSERT_NE(at, std::string::npos);
  manifest.insert(at + 20, "\\u0000.txt");
  write_file(package / "Manifest.json", manifest);
  expect_error(package, "holds a NUL character");
}

}  // namespace
}  // namespace coreml::format
