// How subcommands plug into the `coreml` tool: each command file registers a function that adds
// its subcommand to the CLI11 app; the subcommand's callback stores a runner that main() calls
// after parsing, inside one error handler. Registration is static so that command files stay
// independent of each other and of main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace coreml::cli {

struct GlobalOptions {
  bool verbose = false;
};

// Returns the process exit code (0 success; errors are thrown as coreml::Error).
using Runner = std::function<int()>;

// Adds one subcommand to `app`; its callback must set `selected`.
using CommandRegistration = void (*)(CLI::App& app, const GlobalOptions& globals, Runner& selected);

struct CommandEntry {
  int order;  // position in `coreml --help`
  CommandRegistration registration;
};

std::vector<CommandEntry>& command_registry();

struct RegisterCommand {
  RegisterCommand(int order, CommandRegistration registration) {
    command_registry().push_back({order, registration});
  }
};

}  // namespace coreml::cli

// In a command's .cpp: COREML_CLI_COMMAND(10, register_info);
#define COREML_CLI_COMMAND(order, function) \
  static const ::coreml::cli::RegisterCommand coreml_cli_command_##function(order, function)
