// `coreml info PATH [--json]`: describes any Core ML model truthfully.
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backends/backend.h"
#include "command.h"
#include "coreml/description.h"
#include "coreml/error.h"
#include "coreml/image.h"
#include "coreml/model.h"
#include "format/model_reader.h"

namespace coreml::cli {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    out << (i ? ", " : "");
    if (shape[i] < 0) {
      out << "?";
    } else {
      out << shape[i];
    }
  }
  out << "]";
  return out.str();
}

const char* ios_name(int specification_version) {
  switch (specification_version) {
    case 6: return "iOS 15";
    case 7: return "iOS 16";
    case 8: return "iOS 17";
    case 9: return "iOS 18";
    case 10: return "iOS 26";
    default: return nullptr;
  }
}

void print_features(std::ostream& out, const char* title,
                    const std::vector<FeatureDescription>& features) {
  if (features.empty()) return;
  out << "    " << title << ":\n";
  size_t width = 0;
  for (const auto& f : features) width = std::max(width, f.name.size());
  for (const auto& f : features) {
    out << "      " << f.name << std::string(width - f.name.size() + 2, ' ')
        << feature_kind_name(f.kind);
    if (f.kind == FeatureKind::kImage) {
      out << " " << f.color_space << " " << f.width << "x" << f.height;
      // Image sizes as width x height (the description lists them height first).
      if (!f.enumerated_shapes.empty() || !f.shape_ranges.empty()) {
        out << "  sizes: " << allowed_image_sizes_text(f);
      }
    } else if (f.kind == FeatureKind::kDictionary) {
      out << "<" << f.key_type << ",double>";
    } else if (f.kind == FeatureKind::kSequence) {
      out << "<" << f.key_type << ">";
    } else if (f.kind == FeatureKind::kInt64 || f.kind == FeatureKind::kDouble ||
               f.kind == FeatureKind::kString) {
      // a scalar: nothing more to say
    } else {
      if (!f.dtype.empty()) out << " " << f.dtype;
      out << " " << shape_text(f.shape);
    }
    if (!f.enumerated_shapes.empty() && f.kind != FeatureKind::kImage) {
      out << "  enumerated shapes:";
      for (const auto& s : f.enumerated_shapes) out << " " << shape_text(s);
    }
    if (!f.shape_ranges.empty() && f.kind != FeatureKind::kImage) {
      out << "  ranges:";
      for (const auto& r : f.shape_ranges) {
        out << " " << r.lower << ".."
            << (r.upper < 0 ? std::string("inf") : std::to_string(r.upper));
      }
    }
    if (f.optional) out << "  (optional)";
    if (!f.short_description.empty()) out << "  — " << f.short_description;
    out << "\n";
  }
}

// A classifier's labels and a pipeline's stages.
void print_classic(std::ostream& out, const ModelDescription& d) {
  if (!d.predicted_feature_name.empty()) {
    out << "  classifier: label " << d.predicted_feature_name << " ("
        << (d.integer_class_labels ? "int64" : "string") << ")";
    if (!d.predicted_probabilities_name.empty()) {
      out << ", probabilities " << d.predicted_probabilities_name;
    }
    out << "; " << d.class_labels.size() << " classes:";
    for (size_t i = 0; i < d.class_labels.size() && i < 20; ++i) out << " " << d.class_labels[i];
    if (d.class_labels.size() > 20) out << " ...";
    out << "\n";
  }
  if (d.pipeline.empty()) return;
  out << "  pipeline:\n";
  for (const auto& stage : d.pipeline) {
    out << std::string(2 + 2 * static_cast<size_t>(stage.depth), ' ') << stage.model_type;
    if (!stage.name.empty()) out << " '" << stage.name << "'";
    out << "  (";
    for (size_t i = 0; i < stage.inputs.size(); ++i) out << (i ? ", " : "") << stage.inputs[i];
    out << ") -> (";
    for (size_t i = 0; i < stage.outputs.size(); ++i) out << (i ? ", " : "") << stage.outputs[i];
    out << ")\n";
  }
}

void print_text(std::ostream& out, const ModelDescription& d) {
  out << d.path << "\n";
  out << "  format: " << d.format << ", model type: " << d.model_type
      << ", specification version: " << d.specification_version;
  if (const char* ios = ios_name(d.specification_version)) out << " (" << ios << ")";
  out << "\n";
  const auto& m = d.metadata;
  if (!m.description.empty()) out << "  description: " << m.description << "\n";
  if (!m.author.empty()) out << "  author: " << m.author << "\n";
  if (!m.license.empty()) out << "  license: " << m.license << "\n";
  if (!m.version.empty()) out << "  version: " << m.version << "\n";
  if (!d.compute_precision.empty()) out << "  compute precision: " << d.compute_precision << "\n";
  if (!m.user.empty()) {
    out << "  user metadata:\n";
    for (const auto& [k, v] : m.user) out << "    " << k << ": " << v << "\n";
  }
  print_classic(out, d);
  for (const auto& f : d.functions) {
    if (f.opset.empty()) {  // pipelines and classic models: one unnamed function
      print_features(out, "inputs", f.inputs);
      print_features(out, "outputs", f.outputs);
      continue;
    }
    out << "  function " << f.name << " (opset " << f.opset << ")"
        << (d.functions.size() > 1 && f.name == d.default_function ? ", the default" : "") << "\n";
    print_features(out, "inputs", f.inputs);
    print_features(out, "outputs", f.outputs);
    print_features(out, "states", f.states);
    int64_t total = 0;
    for (const auto& [type, n] : f.op_counts) total += n;
    out << "    operations: " << total;
    if (total) {
      out << " (";
      bool first = true;
      for (const auto& [type, n] : f.op_counts) {
        out << (first ? "" : ", ") << type << " " << n;
        first = false;
      }
      out << ")";
    }
    out << "\n";
  }
  const auto& w = d.weights;
  if (d.model_type != "mlProgram") {
    // Parameters live in the protobuf; ML Program stages' weights are checked when loading.
  } else if (w.files == 0) {
    out << "  weights: none (every value is stored in the program)\n";
  } else {
    out << "  weights: " << w.files << (w.files == 1 ? " file, " : " files, ") << w.blobs
        << (w.blobs == 1 ? " blob" : " blobs");
    if (w.present && w.error.empty()) out << ", " << w.bytes << " bytes";
    out << "\n";
    for (const auto& missing : w.missing) {
      out << "  weights missing: " << missing
          << " (the description is complete; running the model needs this file)\n";
    }
    if (!w.error.empty()) out << "  weights unreadable: " << w.error << "\n";
  }
}

// Whether each backend of this build can run the model, and if not, why.
struct BackendVerdict {
  std::string name;
  bool can_run = false;
  std::string reason;  // when it cannot
};

// Pipelines and classic models: the native runtime runs them if loading them succeeds (every
// model type known, every ML Program stage's ops supported).
std::vector<BackendVerdict> classic_verdicts(const format::ModelAsset& asset) {
  BackendVerdict native{"native"};
  try {
    Model::load(asset.description.path, {.backend = Backend::kNative});
    native.can_run = true;
  } catch (const Error& e) {
    native.reason = e.what();
  }
  return {native,
          {"coreml", false,
           "pipelines and classic model types run on the native runtime (the Core ML "
           "backend runs ML Programs)"}};
}

std::vector<BackendVerdict> backend_verdicts(const format::ModelAsset& asset) {
  if (asset.spec) return classic_verdicts(asset);
  std::vector<BackendVerdict> verdicts;
  auto judge = [&](const backends::BackendInterface& backend) {
    BackendVerdict v{backend.name()};
    if (!backend.available()) {
      v.reason = "not available on this system: " + backend.unavailable_reason();
      return v;
    }
    for (const auto& function : asset.program.functions) {
      const auto missing = backend.unsupported_ops(function);
      if (missing.empty()) continue;
      if (!v.reason.empty()) v.reason += "; ";
      v.reason += "function '" + function.name + "' uses unsupported ops: ";
      for (size_t i = 0; i < missing.size() && i < 5; ++i) v.reason += (i ? ", " : "") + missing[i];
      if (missing.size() > 5) v.reason += ", and " + std::to_string(missing.size() - 5) + " more";
    }
    v.can_run = v.reason.empty();
    return v;
  };
  verdicts.push_back(judge(backends::native_backend()));
  if (const auto* coreml = backends::coreml_backend()) {
    verdicts.push_back(judge(*coreml));
  } else {
    verdicts.push_back({"coreml", false,
                        "not in this build (built on Apple platforms, where CoreML.framework "
                        "exists)"});
  }
  return verdicts;
}

void print_backends(std::ostream& out, const std::vector<BackendVerdict>& verdicts) {
  out << "  backends:\n";
  for (const auto& v : verdicts) {
    out << "    " << v.name << ": " << (v.can_run ? "can run this model" : v.reason) << "\n";
  }
}

void register_info(CLI::App& app, const GlobalOptions& globals, Runner& selected) {
  struct Options {
    std::string path;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "info", "Describe a model: format, functions, inputs, outputs, states, metadata, weights");
  cmd->add_option("path", options->path,
                  "Model: .mlpackage folder, .mlmodel file or .mlmodelc folder")
      ->required();
  cmd->add_flag("--json", options->json, "Print one JSON object (keys listed in the README)");
  cmd->callback([options, &selected] {
    selected = [options] {
      const auto asset = format::read_model(options->path);
      const auto verdicts = backend_verdicts(asset);
      if (options->json) {
        auto j = nlohmann::ordered_json::parse(to_json(asset.description));
        auto list = nlohmann::ordered_json::array();
        for (const auto& v : verdicts) {
          nlohmann::ordered_json entry = {{"name", v.name}, {"can_run", v.can_run}};
          if (!v.can_run) entry["reason"] = v.reason;
          list.push_back(entry);
        }
        j["backends"] = list;
        std::cout << j.dump(2) << "\n";
      } else {
        print_text(std::cout, asset.description);
        print_backends(std::cout, verdicts);
      }
      return 0;
    };
  });
  (void)globals;
}

}  // namespace

COREML_CLI_COMMAND(10, register_info);

}  // namespace coreml::cli
