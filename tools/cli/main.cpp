// The `coreml` command-line tool. Conventions for every command: --help; exit 0 on success,
// 1 on an error (one line on stderr, more with --verbose), 2 on a usage error.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "command.h"
#include "coreml/error.h"
#include "coreml/version.h"

namespace coreml::cli {
std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> registry;
  return registry;
}
}  // namespace coreml::cli

namespace {

const char* error_code_name(coreml::ErrorCode code) {
  switch (code) {
    case coreml::ErrorCode::kInvalidArgument: return "invalid argument";
    case coreml::ErrorCode::kNotFound: return "not found";
    case coreml::ErrorCode::kUnsupported: return "unsupported";
    case coreml::ErrorCode::kParse: return "malformed file";
    case coreml::ErrorCode::kIo: return "I/O error";
    case coreml::ErrorCode::kInternal: return "internal error";
  }
  return "error";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coreml: inspect and run Apple Core ML models (.mlpackage, .mlmodel, .mlmodelc)",
               "coreml"};
  app.set_version_flag("--version", std::string("coreml ") + coreml::version());
  app.require_subcommand(1);
  app.fallthrough();
  coreml::cli::GlobalOptions globals;
  app.add_flag("-v,--verbose", globals.verbose, "Print more detail on errors");
  coreml::cli::Runner selected;
  auto commands = coreml::cli::command_registry();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& command : commands) command.registration(app, globals, selected);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "coreml: usage error: " << e.what() << "\n"
              << "Run 'coreml --help' (or 'coreml COMMAND --help') for usage.\n";
    return 2;
  }
  if (!selected) return 2;
  try {
    return selected();
  } catch (const coreml::Error& e) {
    std::cerr << "coreml: error: " << e.what() << "\n";
    if (globals.verbose) std::cerr << "  (kind: " << error_code_name(e.code()) << ")\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "coreml: internal error: " << e.what() << "\n";
    return 1;
  }
}
