// `coreml run PATH [--function F] [--input NAME=VALUE]... [--resize MODE] [--output-dir DIR]
// [--steps N] [--warmup W] [--threads T] [--profile] [--profile-ops] [--backend B]
// [--compute-units U] [--json]`
// One prediction (or N with the same state, after W untimed ones); writes DIR/NAME.npy per
// tensor output (DIR/NAME.json for labels, numbers, strings, dictionaries) and prints names,
// dtypes, shapes, values, timings, the peak RSS and (--profile) the time per op type or
// (--profile-ops) op by op in program order. VALUE is
// a .npy, a PNG/JPEG picture for an image input (recognized by content), a number, text or a
// dictionary.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "backend_options.h"
#include "backends/backend.h"
#include "command.h"
#include "coreml/image.h"
#include "coreml/model.h"
#include "feature_input.h"
#include "runtime/process_memory.h"

namespace coreml::cli {
namespace {

struct RunOptions {
  std::string path;
  std::string function;
  std::vector<std::string> inputs;
  std::string resize = "none";
  std::string output_dir;
  int steps = 1;
  int warmup = 0;
  int threads = 0;
  bool profile = false;
  bool profile_ops = false;
  BackendChoice backend;
  bool json = false;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<OpTiming> by_time(std::vector<OpTiming> timings) {
  std::sort(timings.begin(), timings.end(),
            [](const OpTiming& a, const OpTiming& b) { return a.milliseconds > b.milliseconds; });
  return timings;
}

const FeatureDescription* declared_input(const FunctionDescription& function,
                                         const std::string& name) {
  for (const auto& f : function.inputs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// A PNG or JPEG file for an image input, as the tensor the feature expects; otherwise a .npy.
Tensor read_input_file(const FeatureDescription* feature, const std::string& name,
                       const std::string& path, ImageResize resize) {
  const bool image = feature && feature->kind == FeatureKind::kImage;
  // Only a regular file is sniffed: a pipe's first bytes, once read, would be gone for load_npy.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    if (image && !std::filesystem::exists(path, ec)) {
      fail(ErrorCode::kNotFound, "--input ", name, "=", path,
           ": no such file (an image input takes a PNG/JPEG picture or a .npy)");
    }
    return load_npy(path);
  }
  std::ifstream file(path, std::ios::binary);
  char head[8] = {};
  file.read(head, sizeof(head));
  const char* format =
      image_format_of(reinterpret_cast<const uint8_t*>(head), static_cast<size_t>(file.gcount()));
  if (*format == '\0') return load_npy(path);
  if (!image) {
    fail(ErrorCode::kInvalidArgument, "--input ", name, "=", path, ": a ", format,
         " picture fits an image input only, and '", name, "' is ",
         feature ? std::string("a ") + feature_kind_name(feature->kind) + " input"
                 : std::string("not an input of this function"));
  }
  return load_image_tensor(path, *feature, resize);
}

// Tensor and image inputs name a file (.npy, or a picture); int64, double, string and
// dictionary inputs are given as text (parse_feature_input).
FeatureValue read_input(const Model& model, const std::string& name, const std::string& value,
                        ImageResize resize) {
  const FeatureDescription* declared = declared_input(model.function(), name);
  const bool file =
      declared ? declared->kind == FeatureKind::kTensor || declared->kind == FeatureKind::kImage
               : std::filesystem::is_regular_file(value);
  if (file) return read_input_file(declared, name, value, resize);
  return parse_feature_input(name, value, declared);
}

FeatureInputs read_inputs(const Model& model, const RunOptions& o) {
  const ImageResize resize = parse_image_resize(o.resize);
  FeatureInputs inputs;
  for (const auto& spec : o.inputs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      fail(ErrorCode::kInvalidArgument, "--input '", spec,
           "': expected NAME=FILE.npy, NAME=PICTURE (PNG/JPEG) for an image input, or NAME=VALUE "
           "(a number, text, a JSON dictionary)");
    }
    const std::string name = spec.substr(0, eq);
    if (inputs.count(name))
      fail(ErrorCode::kInvalidArgument, "--input '", name, "' is given twice");
    inputs[name] = read_input(model, name, spec.substr(eq + 1), resize);
  }
  return inputs;
}

// Predicts with a state when the model has one (tensor inputs only), else with any features.
Outputs predict_once(Model& model, const FeatureInputs& inputs, State& state) {
  if (state.empty()) return model.predict_features(inputs);
  Inputs tensors;
  for (const auto& [name, value] : inputs) tensors.emplace(name, value.tensor());
  return model.predict(tensors, state);
}

// Every non-tensor output by name: values, and a classifier's label and probabilities.
std::vector<std::pair<std::string, FeatureValue>> value_outputs(const Outputs& outputs) {
  std::vector<std::pair<std::string, FeatureValue>> values = outputs.values();
  if (const Classification* c = outputs.classification()) {
    if (!outputs.contains(c->label_output)) {
      values.emplace_back(c->label_output, outputs.value(c->label_output));
    }
    if (!c->probabilities_output.empty()) {
      values.emplace_back(c->probabilities_output, outputs.value(c->probabilities_output));
    }
  }
  return values;
}

int run(const RunOptions& o) {
  if (o.steps < 1) fail(ErrorCode::kInvalidArgument, "--steps must be at least 1");
  const auto load_start = std::chrono::steady_clock::now();
  Model model = Model::load(o.path, {.function = o.function,
                                     .backend = o.backend.backend,
                                     .compute_units = o.backend.compute_units,
                                     .threads = o.threads});
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start)
          .count();
  const FeatureInputs inputs = read_inputs(model, o);
  State state = model.make_state();
  std::vector<double> step_ms;
  // Each step's outputs are let go before the next step makes its own (the peak RSS is then
  // what a caller holding one prediction's results needs, not two).
  Outputs outputs;
  for (int i = 0; i < o.warmup; ++i) {
    outputs = {};
    outputs = predict_once(model, inputs, state);
  }
  // Profiled from here: the timed steps only.
  model.set_profiling(o.profile || o.profile_ops);
  for (int i = 0; i < o.steps; ++i) {
    outputs = {};
    outputs = predict_once(model, inputs, state);
    step_ms.push_back(model.last_stats().milliseconds);
  }
  const auto values = value_outputs(outputs);
  if (!o.output_dir.empty()) {
    std::filesystem::create_directories(o.output_dir);
    for (const auto& [name, tensor] : outputs) {
      save_npy((std::filesystem::path(o.output_dir) / (name + ".npy")).string(), tensor);
    }
    for (const auto& [name, value] : values) {
      std::ofstream out(std::filesystem::path(o.output_dir) / (name + ".json"));
      out << feature_json(value).dump(2) << "\n";
      if (!out) fail(ErrorCode::kIo, "cannot write ", name, ".json in ", o.output_dir);
    }
  }
  std::vector<double> sorted = step_ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  double total = 0;
  for (double ms : step_ms) total += ms;
  if (o.json) {
    nlohmann::ordered_json j;
    j["function"] = model.function().name;
    j["backend"] = backends::backend_name(model.backend());
    j["outputs"] = nlohmann::ordered_json::array();
    for (const auto& [name, tensor] : outputs) {
      j["outputs"].push_back({{"name", name},
                              {"dtype", std::string(dtype_name(tensor.dtype()))},
                              {"shape", tensor.shape()}});
    }
    if (!values.empty()) {
      j["values"] = nlohmann::ordered_json::object();
      for (const auto& [name, value] : values) j["values"][name] = feature_json(value);
    }
    if (const Classification* c = outputs.classification()) {
      nlohmann::ordered_json probabilities;
      for (size_t i = 0; i < c->classes.size() && i < c->probabilities.size(); ++i)
        probabilities[c->classes[i]] = c->probabilities[i];
      j["classification"] = {{"label_output", c->label_output},
                             {"label", c->label()},
                             {"probabilities_output", c->probabilities_output},
                             {"probabilities", probabilities}};
    }
    j["load_ms"] = load_ms;
    j["steps"] = o.steps;
    j["first_ms"] = step_ms.front();
    j["median_ms"] = median;
    // The fastest step: on a shared machine the figure least disturbed by other work.
    j["min_ms"] = sorted.front();
    j["mean_ms"] = total / static_cast<double>(step_ms.size());
    j["peak_activation_bytes"] = model.last_stats().peak_activation_bytes;
    j["peak_rss_bytes"] = runtime::peak_rss_bytes();
    if (o.profile_ops) {
      j["profile_ops"] = nlohmann::ordered_json::array();
      for (const OpTiming& t : model.profile_ops()) {
        j["profile_ops"].push_back({{"name", t.name},
                                    {"op_type", t.op_type},
                                    {"calls", t.calls},
                                    {"ms_per_step", t.milliseconds / o.steps}});
      }
    }
    if (o.profile) {
      j["profile"] = nlohmann::ordered_json::array();
      for (const OpTiming& t : by_time(model.profile())) {
        j["profile"].push_back({{"op_type", t.op_type},
                                {"calls", t.calls},
                                {"ms_per_step", t.milliseconds / o.steps}});
      }
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "function " << model.function().name << " ("
            << backends::backend_name(model.backend()) << " backend)\n";
  for (const auto& [name, tensor] : outputs) {
    std::cout << "  " << name << "  " << dtype_name(tensor.dtype()) << " "
              << shape_text(tensor.shape());
    if (!o.output_dir.empty())
      std::cout << "  -> " << (std::filesystem::path(o.output_dir) / (name + ".npy")).string();
    std::cout << "\n";
  }
  for (const auto& [name, value] : outputs.values()) {
    std::cout << "  " << name << "  " << feature_value_kind_name(value.kind()) << " = "
              << feature_json(value).dump();
    if (!o.output_dir.empty())
      std::cout << "  -> " << (std::filesystem::path(o.output_dir) / (name + ".json")).string();
    std::cout << "\n";
  }
  if (const Classification* c = outputs.classification()) {
    std::cout << "  " << c->label_output << " = " << c->label() << "\n";
    if (!c->probabilities_output.empty()) {
      std::cout << "  " << c->probabilities_output << " =";
      for (size_t i = 0; i < c->classes.size() && i < c->probabilities.size(); ++i) {
        std::cout << (i ? ", " : " ") << c->classes[i] << ": " << c->probabilities[i];
      }
      std::cout << "\n";
    }
  }
  std::cout << std::fixed << std::setprecision(3) << "load " << load_ms << " ms; " << o.steps
            << (o.steps == 1 ? " prediction: " : " predictions: first ") << step_ms.front()
            << " ms";
  if (o.steps > 1) {
    std::cout << ", median " << median << " ms, mean " << total / o.steps << " ms, fastest "
              << sorted.front() << " ms";
  }
  std::cout << "; peak activations " << model.last_stats().peak_activation_bytes
            << " bytes, peak RSS " << runtime::peak_rss_bytes() / (1 << 20) << " MB\n";
  if (o.profile) {
    std::cout << "per step, by op type:\n";
    for (const OpTiming& t : by_time(model.profile())) {
      std::cout << "  " << std::left << std::setw(28) << t.op_type << std::right << std::setw(6)
                << t.calls / o.steps << " calls " << std::setw(10) << t.milliseconds / o.steps
                << " ms\n";
    }
  }
  if (o.profile_ops) {
    std::cout << "per step, op by op (program order; an op is named by its first output):\n";
    for (const OpTiming& t : model.profile_ops()) {
      std::cout << "  " << std::left << std::setw(28) << t.op_type << " " << std::setw(24) << t.name
                << std::right << std::setw(10) << t.milliseconds / o.steps << " ms\n";
    }
  }
  return 0;
}

void register_run(CLI::App& app, const GlobalOptions& globals, Runner& selected) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run a model (native runtime or Core ML) and save its outputs as .npy");
  cmd->add_option("path", o->path, "Model: .mlpackage, .mlmodel or .mlmodelc")->required();
  cmd->add_option("--function", o->function,
                  "Function to run (default: the model's default function)");
  cmd->add_option("--input", o->inputs,
                  "An input as NAME=VALUE (repeat for each input): FILE.npy for a tensor; a "
                  "PNG or JPEG picture for an image input; a number or text for double, int64 and "
                  "string features; a JSON object (inline or @FILE.json) for a dictionary");
  cmd->add_option("--resize", o->resize,
                  "A picture whose size the image input does not accept: none (an error), fill "
                  "(scale both axes), fit (keep aspect ratio, pad with zeros), crop (keep aspect "
                  "ratio, take the centre)")
      ->check(CLI::IsMember({"none", "fill", "fit", "crop"}));
  cmd->add_option("--output-dir", o->output_dir, "Write each output to DIR/NAME.npy");
  cmd->add_option("--steps", o->steps, "Predictions to run with the same inputs and state (timing)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o->warmup, "Untimed predictions before the timed ones")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", o->threads, "Worker threads (default: the number of cores)");
  cmd->add_flag("--profile", o->profile, "Time per op type over the timed predictions");
  cmd->add_flag("--profile-ops", o->profile_ops,
                "Time of every op, in program order, over the timed predictions (which layer of a "
                "network is slow)");
  add_backend_options(*cmd, o->backend);
  cmd->add_flag("--json", o->json, "Print one JSON object with outputs and timings");
  cmd->callback([o, &selected] { selected = [o] { return run(*o); }; });
  (void)globals;
}

}  // namespace

COREML_CLI_COMMAND(20, register_run);

}  // namespace coreml::cli
