// How subcommands plug into the `coreml` tool: each registers itself on the CLI11 app and
// leaves a runner that main() calls after parsing, inside one error handler.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace coreml::cli {

struct GlobalOptions {
  bool verbose = false;
};

// Returns the process exit code (0 success; errors are thrown as coreml::Error).
using Runner = std::function<int()>;

// Each command adds a subcommand to `app` whose callback stores its runner in `selected`.
void register_info(CLI::App& app, const GlobalOptions& globals, Runner& selected);

}  // namespace coreml::cli
