// --backend and --compute-units, shared by run, generate, chat and bench.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "coreml/model.h"

namespace coreml::cli {

struct BackendChoice {
  Backend backend = Backend::kAuto;
  ComputeUnits compute_units = ComputeUnits::kAll;
};

inline void add_backend_options(CLI::App& cmd, BackendChoice& choice) {
  const std::map<std::string, Backend> backends = {
      {"auto", Backend::kAuto}, {"native", Backend::kNative}, {"coreml", Backend::kCoreML}};
  const std::map<std::string, ComputeUnits> units = {{"all", ComputeUnits::kAll},
                                                     {"cpu", ComputeUnits::kCpuOnly},
                                                     {"cpu-gpu", ComputeUnits::kCpuAndGpu},
                                                     {"cpu-ne", ComputeUnits::kCpuAndNeuralEngine}};
  cmd.add_option(
         "--backend", choice.backend,
         "Where the model runs: native (the portable CPU runtime), coreml (Apple's Core ML; "
         "Apple builds only) or auto (Core ML when built, else native)")
      ->transform(CLI::CheckedTransformer(backends, CLI::ignore_case));
  cmd.add_option("--compute-units", choice.compute_units,
                 "Core ML compute units: all, cpu, cpu-gpu, cpu-ne (the native backend always "
                 "uses the CPU, which every choice includes)")
      ->transform(CLI::CheckedTransformer(units, CLI::ignore_case));
}

}  // namespace coreml::cli
