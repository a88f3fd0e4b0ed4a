#include "format/model_reader.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "coreml/error.h"
#include "format/file_util.h"
#include "format/json_util.h"
#include "format/mil_text_parser.h"
#include "format/mlmodel_reader.h"
#include "format/mlmodelc_metadata.h"
#include "mil/validate.h"

namespace coreml::format {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxManifestBytes = 16ull << 20;
constexpr uint64_t kMaxMetadataBytes = 64ull << 20;
// Protobuf refuses messages of 2 GiB and more; MIL text of that size is not a real model.
constexpr uint64_t kMaxProgramBytes = (2ull << 30) - 1;

std::string list_folder(const fs::path& folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string() + (it->is_directory(ec) ? "/" : ""));
    if (names.size() > 20) break;
  }
  std::sort(names.begin(), names.end());
  std::string text;
  for (const auto& n : names) text += (text.empty() ? "" : ", ") + n;
  return text.empty() ? "nothing" : text;
}

// Manifest.json -> the root model file inside Data/.
fs::path manifest_root_model(const fs::path& package) {
  const fs::path manifest_path = package / "Manifest.json";
  const std::string source = manifest_path.string();
  const nlohmann::json manifest =
      parse_json(read_small_file(manifest_path, kMaxManifestBytes), source);
  if (!manifest.is_object()) fail(ErrorCode::kParse, source, ": expected a JSON object");
  const auto string_at = [&](const nlohmann::json& object, const char* key) -> std::string {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_string()) {
      fail(ErrorCode::kParse, source, ": field \"", key, "\" is missing or not a string");
    }
    return it->get<std::string>();
  };
  const std::string version = string_at(manifest, "fileFormatVersion");
  int major = 0, minor = 0, patch = 0;
  char trailing = 0;
  if (std::sscanf(version.c_str(), "%d.%d.%d%c", &major, &minor, &patch, &trailing) != 3 ||
      major < 0 || minor < 0 || patch < 0) {
    fail(ErrorCode::kParse, source, ": fileFormatVersion \"", version,
         "\" is not a version like 1.0.0");
  }
  if (major > 1 || (major == 1 && (minor > 0 || patch > 0))) {
    fail(ErrorCode::kUnsupported, source, ": fileFormatVersion ", version,
         " is newer than the 1.0.0 this reader understands");
  }
  const std::string root_id = string_at(manifest, "rootModelIdentifier");
  const auto entries = manifest.find("itemInfoEntries");
  if (entries == manifest.end() || !entries->is_object()) {
    fail(ErrorCode::kParse, source, ": field \"itemInfoEntries\" is missing or not an object");
  }
  const auto root = entries->find(root_id);
  if (root == entries->end() || !root->is_object()) {
    fail(ErrorCode::kParse, source, ": itemInfoEntries has no entry for rootModelIdentifier \"",
         root_id, "\"");
  }
  const std::string relative = string_at(*root, "path");
  const fs::path data = package / "Data";
  const fs::path model_file = data / relative;
  if (has_nul(relative)) {
    fail(ErrorCode::kParse, source, ": root item path \"", relative.substr(0, relative.find('\0')),
         "\\u0000...\" holds a NUL character");
  }
  if (relative.empty() || fs::path(relative).is_absolute() || !path_is_within(data, model_file)) {
    fail(ErrorCode::kParse, source, ": root item path \"", relative,
         "\" must be a relative path inside Data/");
  }
  return model_file;
}

ModelSpec read_spec_file(const fs::path& file) {
  // The file's bytes are freed once parsed, before the conversion allocates the IR.
  spec::Model model = parse_model_protobuf(read_small_file(file, kMaxProgramBytes), file.string());
  return read_model_spec(std::move(model), file.string());
}

// A compiled folder without model.mil: Apple's compiler turns NeuralNetwork and classic models
// (and pipelines, one modelN/ folder per stage) into coremldata.bin files, plus
// model.espresso.net/.shape/.weights for neural networks - formats it does not publish, from
// which the model's protobuf cannot be recovered. The model they were compiled from can be read.
[[noreturn]] void unsupported_folder(const fs::path& folder) {
  const fs::path metadata = folder / "metadata.json";
  std::string type;
  std::error_code ec;
  if (fs::is_regular_file(metadata, ec) && fs::file_size(metadata, ec) < kMaxMetadataBytes) {
    type = compiled_model_type(read_small_file(metadata, kMaxMetadataBytes));
  }
  if (type.empty() && fs::exists(folder / "model.espresso.net", ec)) type = "neuralNetwork";
  if (type.empty() && fs::is_directory(folder / "model0", ec)) type = "pipeline";
  if (!type.empty() || folder.extension() == ".mlmodelc" || fs::exists(metadata, ec) ||
      fs::exists(folder / "coremldata.bin", ec)) {
    fail(ErrorCode::kUnsupported, folder.string(), ": a compiled ",
         type.empty() ? "model of unknown type" : type + " model",
         " without model.mil: Apple's compiler stores it in coremldata.bin",
         type == "neuralNetwork" ? " and model.espresso.* files" : "",
         ", formats it does not publish, so it cannot be read here; pass the .mlmodel or "
         ".mlpackage it was compiled from instead; found: ",
         list_folder(folder));
  }
  fail(ErrorCode::kInvalidArgument, folder.string(),
       ": not a Core ML model folder (expected Manifest.json for .mlpackage or model.mil for "
       ".mlmodelc); found: ",
       list_folder(folder));
}

// Walks every literal in a block and hands each blob reference to `visit`.
template <typename Visit>
void for_each_blob(const mil::Value& value, Visit& visit) {
  if (value.kind == mil::Value::Kind::kBlob) visit(value);
  for (const auto& element : value.elements) for_each_blob(element, visit);
  for (const auto& [key, val] : value.entries) {
    for_each_blob(key, visit);
    for_each_blob(val, visit);
  }
}

template <typename Visit>
void for_each_blob(const mil::Block& block, Visit& visit) {
  for (const auto& op : block.operations) {
    for (const auto& [name, arg] : op.inputs) {
      for (const auto& b : arg.bindings) {
        if (b.value) for_each_blob(*b.value, visit);
      }
    }
    for (const auto& [name, value] : op.attributes) for_each_blob(value, visit);
    for (const auto& nested : op.blocks) for_each_blob(nested, visit);
  }
}

WeightsSummary summarize_weights(const mil::Program& program, WeightStore& store) {
  std::set<std::pair<std::string, uint64_t>> blobs;
  std::set<std::string> files;
  auto visit = [&](const mil::Value& v) {
    blobs.emplace(v.blob.path, v.blob.offset);
    files.insert(v.blob.path);
  };
  for (const auto& f : program.functions) for_each_blob(f.block, visit);
  WeightsSummary summary;
  summary.files = static_cast<int64_t>(files.size());
  summary.blobs = static_cast<int64_t>(blobs.size());
  for (const auto& file : files) {
    if (!store.exists(file)) summary.missing.push_back(file);
  }
  summary.present = summary.missing.empty();
  if (!summary.present) return summary;
  // A damaged weight file must not stop `info`; running the model reports it in full.
  try {
    for (const auto& [file, offset] : blobs) {
      summary.bytes += static_cast<int64_t>(store.file(file)->record_at(offset).size);
    }
  } catch (const Error& e) {
    summary.error = e.what();
  }
  return summary;
}

FeatureDescription feature_from_type(const std::string& name, const mil::Type& type) {
  FeatureDescription f;
  f.name = name;
  f.kind = type.kind == mil::Type::Kind::kState ? FeatureKind::kState : FeatureKind::kTensor;
  f.dtype = std::string(mil::data_type_name(type.tensor.dtype));
  if (type.tensor.shape) {
    for (const auto& d : *type.tensor.shape) f.shape.push_back(d.known() ? d.size : -1);
  }
  return f;
}

// A description for a function that no metadata describes, from its typed signature.
FunctionDescription describe_from_program(const mil::Function& function) {
  FunctionDescription d;
  d.name = function.name;
  for (const auto& input : function.inputs) {
    auto feature = feature_from_type(input.name, input.type);
    (feature.kind == FeatureKind::kState ? d.states : d.inputs).push_back(std::move(feature));
  }
  for (const auto& output : function.block.outputs) {
    const mil::Type* type = nullptr;
    for (const auto& op : function.block.operations) {
      for (const auto& o : op.outputs) {
        if (o.name == output) type = &o.type;
      }
    }
    for (const auto& input : function.inputs) {
      if (input.name == output) type = &input.type;
    }
    if (type) d.outputs.push_back(feature_from_type(output, *type));
  }
  return d;
}

// Reconciles the declared description with the program and adds what only the program knows.
void complete_description(ModelDescription& d, const mil::Program& program,
                          const std::string& source) {
  if (program.functions.empty()) fail(ErrorCode::kParse, source, ": the program has no functions");
  // A single-function description is often just called "main" whatever the program's name.
  if (d.functions.size() == 1 && program.functions.size() == 1 &&
      !program.find_function(d.functions[0].name)) {
    d.functions[0].name = program.functions[0].name;
  }
  for (const auto& f : d.functions) {
    if (!program.find_function(f.name)) {
      fail(ErrorCode::kParse, source, ": the description names function \"", f.name,
           "\" but the program has no such function");
    }
  }
  for (const auto& pf : program.functions) {
    if (!d.find_function(pf.name)) d.functions.push_back(describe_from_program(pf));
  }
  for (auto& f : d.functions) {
    const mil::Function* pf = program.find_function(f.name);
    f.opset = pf->opset;
    f.op_counts = mil::count_operations(pf->block);
    if (f.states.empty()) {
      // Older descriptions list no states; the program's state-typed inputs are the truth.
      for (const auto& input : pf->inputs) {
        if (input.type.kind == mil::Type::Kind::kState) {
          f.states.push_back(feature_from_type(input.name, input.type));
        }
      }
    }
  }
  if (d.default_function.empty()) {
    d.default_function = program.find_function("main") ? "main" : program.functions[0].name;
  } else if (!program.find_function(d.default_function)) {
    fail(ErrorCode::kParse, source, ": default function \"", d.default_function,
         "\" is not in the program");
  }
}

ModelAsset finish(ModelAsset asset, const std::string& source) {
  if (asset.spec) {
    asset.weights = std::make_shared<WeightStore>(asset.model_dir);
    return asset;
  }
  // One validation for every consumer: `coreml info` reports the same problems loading does.
  mil::check_valid(asset.program, source);
  complete_description(asset.description, asset.program, source);
  asset.weights = std::make_shared<WeightStore>(asset.model_dir);
  asset.description.weights = summarize_weights(asset.program, *asset.weights);
  return asset;
}

}  // namespace

ModelAsset read_model(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(ErrorCode::kNotFound, path.string(), ": no such file or folder");
  ModelAsset asset;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path / "Manifest.json", ec)) {
      const fs::path model_file = manifest_root_model(path);
      auto spec = read_spec_file(model_file);
      asset.program = std::move(spec.program);
      asset.description = std::move(spec.description);
      asset.spec = std::move(spec.model);
      asset.description.format = "mlpackage";
      asset.model_dir = model_file.parent_path();
    } else if (fs::exists(path / "model.mil", ec)) {
      const fs::path mil_file = path / "model.mil";
      asset.program =
          parse_mil_text(read_small_file(mil_file, kMaxProgramBytes), mil_file.string());
      const fs::path metadata = path / "metadata.json";
      if (fs::exists(metadata, ec)) {
        asset.description =
            read_compiled_metadata(read_small_file(metadata, kMaxMetadataBytes), metadata.string());
      }
      asset.description.format = "mlmodelc";
      asset.model_dir = path;
    } else {
      unsupported_folder(path);
    }
  } else {
    auto spec = read_spec_file(path);
    asset.program = std::move(spec.program);
    asset.description = std::move(spec.description);
    asset.spec = std::move(spec.model);
    asset.description.format = "mlmodel";
    asset.model_dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  }
  asset.description.path = path.string();
  return finish(std::move(asset), path.string());
}

ModelAsset read_sub_model(const spec::Model& model, const ModelAsset& parent,
                          const std::string& source) {
  auto spec = read_model_spec(model, source);
  ModelAsset asset;
  asset.program = std::move(spec.program);
  asset.description = std::move(spec.description);
  asset.spec = std::move(spec.model);
  asset.description.format = parent.description.format;
  asset.description.path = source;
  asset.model_dir = parent.model_dir;
  return finish(std::move(asset), source);
}

}  // namespace coreml::format
