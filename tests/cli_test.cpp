// The CLI's conventions: --help, exit codes 0/1/2, one-line errors.
#include <gtest/gtest.h>

#include "support/run_command.h"

namespace coreml::test {
namespace {

int line_count(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}

TEST(Cli, HelpExitsZero) {
  const auto r = run_cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("info"), std::string::npos) << r.out;
}

TEST(Cli, CommandHelpExitsZero) {
  const auto r = run_cli({"info", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--json"), std::string::npos) << r.out;
}

TEST(Cli, NoCommandIsUsageError) {
  const auto r = run_cli({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.err.empty());
}

TEST(Cli, UnknownCommandIsUsageError) {
  const auto r = run_cli({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, MissingArgumentIsUsageError) {
  const auto r = run_cli({"info"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("path"), std::string::npos) << r.err;
}

TEST(Cli, UnknownFlagIsUsageError) {
  const auto r = run_cli({"info", "x.mlpackage", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, MissingModelIsOneLineError) {
  const auto r = run_cli({"info", "/nonexistent/model.mlpackage"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/model.mlpackage"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, VerboseAddsDetail) {
  const auto r = run_cli({"--verbose", "info", "/nonexistent/model.mlpackage"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_GT(line_count(r.err), 1) << r.err;
}

TEST(Cli, FolderThatIsNotAModel) {
  const auto r = run_cli({"info", COREML_TEST_DATA_DIR});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a Core ML model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coreml::test
