// Runs the `coreml` binary (or any command) for CLI tests, capturing output and exit code.
#pragma once

#include <string>
#include <vector>

namespace coreml::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `program` with `args` (no shell interpretation of the arguments), stdin from /dev/null.
CommandResult run_command(const std::string& program, const std::vector<std::string>& args);

// Runs the coreml CLI built alongside the tests.
CommandResult run_cli(const std::vector<std::string>& args);

// Path to a file under tests/data.
std::string data_path(const std::string& relative);

}  // namespace coreml::test
