// The version is set once, in project() of CMakeLists.txt (passed here as COREML_PROJECT_VERSION);
// the library, its header and `coreml --version` must all report that one.
#include "coreml/version.h"

#include <gtest/gtest.h>

#include <string>

#include "support/run_command.h"

namespace coreml::test {
namespace {

TEST(Version, LibraryReportsTheProjectVersion) {
  EXPECT_EQ(std::string(coreml::version()), COREML_PROJECT_VERSION);
}

TEST(Version, HeaderMacrosMatchTheProjectVersion) {
  EXPECT_EQ(std::string(COREML_VERSION_STRING), COREML_PROJECT_VERSION);
  const std::string joined = std::to_string(COREML_VERSION_MAJOR) + "." +
                             std::to_string(COREML_VERSION_MINOR) + "." +
                             std::to_string(COREML_VERSION_PATCH);
  EXPECT_EQ(joined, COREML_PROJECT_VERSION);
}

TEST(Version, CliPrintsTheProjectVersion) {
  const auto r = run_cli({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("coreml ") + COREML_PROJECT_VERSION + "\n");
}

}  // namespace
}  // namespace coreml::test
