// `coreml run PATH [--function F] [--input NAME=FILE.npy]... [--output-dir DIR] [--steps N]
// [--warmup W] [--threads T] [--profile] [--backend B] [--compute-units U] [--json]` One
// prediction (or N with the same state, after W untimed ones); writes DIR/NAME.npy per output
// and prints names, dtypes, shapes, timings, the peak RSS and (--profile) the time per op type.
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
#include "coreml/model.h"

namespace coreml::cli {
namespace {

struct RunOptions {
  std::string path;
  std::string function;
  std::vector<std::string> inputs;
  std::string output_dir;
  int steps = 1;
  int warmup = 0;
  int threads = 0;
  bool profile = false;
  BackendChoice backend;
  bool json = false;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The process's peak resident set (VmHWM: this program's own, unlike getrusage's ru_maxrss,
// which keeps the peak of the process image before exec), in bytes; 0 where unknown.
int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
  }
  return 0;
}

std::vector<OpTiming> by_time(std::vector<OpTiming> timings) {
  std::sort(timings.begin(), timings.end(),
            [](const OpTiming& a, const OpTiming& b) { return a.milliseconds > b.milliseconds; });
  return timings;
}

Inputs read_inputs(const RunOptions& o) {
  Inputs inputs;
  for (const auto& spec : o.inputs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      fail(ErrorCode::kInvalidArgument, "--input '", spec, "': expected NAME=FILE.npy");
    }
    const std::string name = spec.substr(0, eq);
    if (inputs.count(name))
      fail(ErrorCode::kInvalidArgument, "--input '", name, "' is given twice");
    inputs[name] = load_npy(spec.substr(eq + 1));
  }
  return inputs;
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
  const Inputs inputs = read_inputs(o);
  State state = model.make_state();
  std::vector<double> step_ms;
  Outputs outputs;
  for (int i = 0; i < o.warmup; ++i) {
    outputs = state.empty() ? model.predict(inputs) : model.predict(inputs, state);
  }
  // Profiled from here: the timed steps only.
  model.set_profiling(o.profile);
  for (int i = 0; i < o.steps; ++i) {
    outputs = state.empty() ? model.predict(inputs) : model.predict(inputs, state);
    step_ms.push_back(model.last_stats().milliseconds);
  }
  if (!o.output_dir.empty()) {
    std::filesystem::create_directories(o.output_dir);
    for (const auto& [name, tensor] : outputs) {
      save_npy((std::filesystem::path(o.output_dir) / (name + ".npy")).string(), tensor);
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
    if (const Classification* c = outputs.classification()) {
      nlohmann::ordered_json probabilities;
      for (size_t i = 0; i < c->classes.size(); ++i)
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
    j["mean_ms"] = total / static_cast<double>(step_ms.size());
    j["peak_activation_bytes"] = model.last_stats().peak_activation_bytes;
    j["peak_rss_bytes"] = peak_rss_bytes();
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
  if (const Classification* c = outputs.classification()) {
    std::cout << "  " << c->label_output << " = " << c->label() << "\n  " << c->probabilities_output
              << " =";
    for (size_t i = 0; i < c->classes.size(); ++i) {
      std::cout << (i ? ", " : " ") << c->classes[i] << ": " << c->probabilities[i];
    }
    std::cout << "\n";
  }
  std::cout << std::fixed << std::setprecision(3) << "load " << load_ms << " ms; " << o.steps
            << (o.steps == 1 ? " prediction: " : " predictions: first ") << step_ms.front()
            << " ms";
  if (o.steps > 1) std::cout << ", median " << median << " ms, mean " << total / o.steps << " ms";
  std::cout << "; peak activations " << model.last_stats().peak_activation_bytes
            << " bytes, peak RSS " << peak_rss_bytes() / (1 << 20) << " MB\n";
  if (o.profile) {
    std::cout << "per step, by op type:\n";
    for (const OpTiming& t : by_time(model.profile())) {
      std::cout << "  " << std::left << std::setw(28) << t.op_type << std::right << std::setw(6)
                << t.calls / o.steps << " calls " << std::setw(10) << t.milliseconds / o.steps
                << " ms\n";
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
  cmd->add_option("--input", o->inputs, "An input as NAME=FILE.npy (repeat for each input)");
  cmd->add_option("--output-dir", o->output_dir, "Write each output to DIR/NAME.npy");
  cmd->add_option("--steps", o->steps, "Predictions to run with the same inputs and state (timing)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o->warmup, "Untimed predictions before the timed ones")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", o->threads, "Worker threads (default: the number of cores)");
  cmd->add_flag("--profile", o->profile, "Time per op type over the timed predictions");
  add_backend_options(*cmd, o->backend);
  cmd->add_flag("--json", o->json, "Print one JSON object with outputs and timings");
  cmd->callback([o, &selected] { selected = [o] { return run(*o); }; });
  (void)globals;
}

}  // namespace

COREML_CLI_COMMAND(20, register_run);

}  // namespace coreml::cli
