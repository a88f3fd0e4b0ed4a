// `coreml download` against the stand-in Hub (tests/hub_stand_in.h), configured the way a user
// would: HF_ENDPOINT and HF_HUB_CACHE in the environment.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "hub_stand_in.h"
#include "support/run_command.h"

namespace fs = std::filesystem;
using coreml::test::run_cli;

namespace {

class HubCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/coreml_hub_cli_XXXXXX";
    cache_ = mkdtemp(pattern);
    setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
    setenv("HF_HUB_CACHE", (cache_ / "hub").c_str(), 1);
    setenv("HF_HOME", (cache_ / "home").c_str(), 1);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_TOKEN");
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(cache_, ignored);
  }
  std::string snapshot() const {
    return (cache_ / "hub/models--acme--tiny/snapshots" / coreml::test::kTinySha).string();
  }

  coreml::test::StandInHub hub_;
  fs::path cache_;
};

TEST_F(HubCliTest, DownloadPrintsTheSnapshotFolder) {
  const auto result = run_cli({"download", "acme/tiny", "--quiet"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, snapshot() + "\n");
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(coreml::test::read_test_file(snapshot() + "/config.json"), coreml::test::kConfigJson);
  EXPECT_TRUE(fs::is_directory(snapshot() + "/Tiny.mlmodelc"));
}

TEST_F(HubCliTest, IncludeRevisionAndCacheDir) {
  const fs::path other = cache_ / "other";
  const auto result =
      run_cli({"download", "acme/tiny", "--revision", coreml::test::kTinySha, "--include", "*.json",
               "--include", "README.md", "--cache-dir", other.string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const std::string folder =
      (other / "models--acme--tiny/snapshots" / coreml::test::kTinySha).string();
  EXPECT_EQ(result.out, folder + "\n");
  EXPECT_TRUE(fs::exists(folder + "/config.json"));
  EXPECT_TRUE(fs::exists(folder + "/README.md"));
  EXPECT_FALSE(fs::exists(folder + "/weights"));
  EXPECT_EQ(hub_.file_gets, 2);
}

TEST_F(HubCliTest, RevisionAfterTheAtSign) {
  const auto result =
      run_cli({"download", std::string("acme/tiny@") + coreml::test::kTinySha, "-q"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, snapshot() + "\n");
}

TEST_F(HubCliTest, OfflineAfterDownload) {
  ASSERT_EQ(run_cli({"download", "acme/tiny", "-q"}).exit_code, 0);
  setenv("HF_HUB_OFFLINE", "1", 1);
  setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);
  const auto result = run_cli({"download", "acme/tiny", "-q"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, snapshot() + "\n");
}

TEST_F(HubCliTest, ErrorsAreOneLine) {
  const auto missing = run_cli({"download", "acme/missing", "-q"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_NE(missing.err.find("repository acme/missing not found"), std::string::npos)
      << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);
  const auto gated = run_cli({"download", "acme/private", "-q"});
  EXPECT_EQ(gated.exit_code, 1);
  EXPECT_NE(gated.err.find("HF_TOKEN"), std::string::npos) << gated.err;
  const auto bad = run_cli({"download", "not-a-repo"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("not a Hugging Face repo id"), std::string::npos) << bad.err;
}

TEST_F(HubCliTest, UsageErrors) {
  EXPECT_EQ(run_cli({"download"}).exit_code, 2);
  const auto help = run_cli({"download", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--include"), std::string::npos);
}

}  // namespace
