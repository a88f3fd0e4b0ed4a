// The .mlmodelc.zip extractor against hostile archives (tests/data/hub/hostile, written by
// tools/fixtures/make_hostile_zips.py): what must be refused is refused before or while
// extracting, nothing is left behind, and a stopped extraction cleans up after itself.
#include "hub/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "test_support.h"

extern char** environ;

namespace fs = std::filesystem;

namespace {

const fs::path kZips = fs::path(COREML_TEST_DATA_DIR) / "hub/hostile";

// Each test's own folder.
struct TempDir : coreml::test::TempDir {
  TempDir() : coreml::test::TempDir("extract_test") {}
};

// Names in `folder` other than the archive: what an extraction left behind.
std::vector<std::string> left_in(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 4 || name.substr(name.size() - 4) != ".zip") names.push_back(name);
  }
  return names;
}

class ExtractTest : public ::testing::Test {
 protected:
  void TearDown() override { coreml::set_resource_limits(coreml::ResourceLimits{}); }

  // Extracts kZips/NAME.mlmodelc.zip into a temp folder; returns the error ("" on success).
  std::string extract(const std::string& name) {
    const fs::path zip = dir.path() / (name + ".mlmodelc.zip");
    fs::copy_file(kZips / (name + ".mlmodelc.zip"), zip);
    try {
      coreml::hub::extract_model_zip(zip.string(), (dir.path() / "Tiny.mlmodelc").string());
    } catch (const coreml::Error& e) {
      return e.what();
    }
    return "";
  }

  TempDir dir;
};

TEST_F(ExtractTest, AGoodArchiveWithAnInsideLinkIsExtracted) {
  EXPECT_EQ(extract("good"), "");
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "Tiny.mlmodelc/model.mil"));
  EXPECT_EQ(fs::read_symlink(dir.path() / "Tiny.mlmodelc/weights/alias.bin"), "weight.bin");
  EXPECT_EQ(left_in(dir.path()), std::vector<std::string>{"Tiny.mlmodelc"});
}

// The chain of the issue: l0 -> ".", lN -> l(N-1)/.., model.mil -> l24/etc/hostname. Each link
// passes a lexical check alone; resolved on the disk, model.mil is a file outside.
TEST_F(ExtractTest, LinkChainsAreResolvedAgainstTheRealRoot) {
  const std::string message = extract("symlink_chain");
  EXPECT_NE(message.find("resolves outside the extracted folder"), std::string::npos) << message;
  EXPECT_TRUE(left_in(dir.path()).empty());
}

TEST_F(ExtractTest, LinksOutOfTheTopFolderAreRefused) {
  // "../outside.mil" from Tiny.mlmodelc/ stays in the archive but leaves the model folder.
  std::ofstream(dir.path() / "outside.mil") << "program(1.0)\n";
  const std::string message = extract("symlink_out_of_top");
  EXPECT_NE(message.find("refusing symlink 'model.mil'"), std::string::npos) << message;
  EXPECT_EQ(left_in(dir.path()), std::vector<std::string>{"outside.mil"});
}

TEST_F(ExtractTest, LoopingAndDanglingLinksAreRefused) {
  for (const char* name : {"symlink_loop", "symlink_dangling"}) {
    const std::string message = extract(name);
    EXPECT_NE(message.find("leads nowhere"), std::string::npos) << name << ": " << message;
    EXPECT_TRUE(left_in(dir.path()).empty()) << name;
  }
}

TEST_F(ExtractTest, DeclaredSizesAreCheckedBeforeExtracting) {
  // 300 MiB declared in a 373-byte archive: refused on the headers alone.
  const std::string message = extract("declares_too_much");
  EXPECT_NE(message.find("zip bomb"), std::string::npos) << message;
  EXPECT_TRUE(left_in(dir.path()).empty());
  coreml::ResourceLimits limits;
  limits.max_zip_bytes = 1 << 20;
  coreml::set_resource_limits(limits);
  fs::remove(dir.path() / "declares_too_much.mlmodelc.zip");
  const std::string total = extract("declares_too_much");
  EXPECT_NE(total.find("would extract to more than 1 MiB"), std::string::npos) << total;
}

TEST_F(ExtractTest, DataBeyondTheDeclaredSizeIsRefusedWhileExtracting) {
  const std::string message = extract("size_lie");
  EXPECT_NE(message.find("model.mil"), std::string::npos) << message;
  EXPECT_TRUE(left_in(dir.path()).empty());
}

TEST_F(ExtractTest, EntryCountAndDepthAreBounded) {
  coreml::ResourceLimits limits;
  limits.max_zip_entries = 100;
  coreml::set_resource_limits(limits);
  const std::string many = extract("entries_150");
  EXPECT_NE(many.find("more than 100 entries"), std::string::npos) << many;
  EXPECT_NE(many.find("COREML_MAX_ZIP_ENTRIES"), std::string::npos) << many;
  const std::string deep = extract("deep_folders");
  EXPECT_NE(deep.find("nested deeper than 64 folders"), std::string::npos) << deep;
  EXPECT_TRUE(left_in(dir.path()).empty());
}

// Extraction folders of processes that no longer run are removed; a live one is not touched.
TEST_F(ExtractTest, StaleExtractionFoldersAreCleanedUp) {
  const fs::path stale = dir.path() / ".Tiny.mlmodelc.999999999-42.extracting";
  const fs::path live =
      dir.path() / (".Tiny.mlmodelc." + std::to_string(getpid()) + "-7.extracting");
  fs::create_directories(stale / "weights");
  fs::create_directories(live);
  EXPECT_EQ(extract("good"), "");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
}

// A zip of `entries` files of `bytes` zero bytes each (deflated), written with libarchive.
void write_zeros_zip(const fs::path& path, int entries, int64_t bytes) {
  archive* writer = archive_write_new();
  archive_write_set_format_zip(writer);
  archive_write_open_filename(writer, path.c_str());
  const std::vector<char> zeros(1 << 20, 0);
  for (int i = 0; i < entries; ++i) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, ("qwen_embeddings.mlmodelc/w" + std::to_string(i)).c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, bytes);
    archive_write_header(writer, entry);
    for (int64_t done = 0; done < bytes; done += static_cast<int64_t>(zeros.size())) {
      archive_write_data(writer, zeros.data(), zeros.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(writer);
  archive_write_free(writer);
}

// SIGTERM while `coreml generate` extracts a part: the process ends by the signal, and neither
// the hidden .extracting folder nor a half-made model folder is left.
TEST(ExtractSignal, TerminationDuringExtractionLeavesNothingBehind) {
  TempDir dir;
  fs::copy_file(fs::path(COREML_TEST_DATA_DIR) / "anemll/tiny-qwen3/meta.yaml",
                dir.path() / "meta.yaml");
  write_zeros_zip(dir.path() / "qwen_embeddings.mlmodelc.zip", 16, int64_t{16} << 20);
  const std::string model = dir.path().string();
  std::vector<std::string> args = {COREML_CLI_PATH, "generate", "--model", model, "--prompt", "x"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = {"COREML_MAX_ZIP_RATIO=1000000", "HF_HUB_OFFLINE=1"};
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()), 0);
  // Wait (bounded) until the extraction folder exists, then stop the process.
  bool seen = false;
  int status = 0;
  bool exited = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!seen && !exited && std::chrono::steady_clock::now() < give_up) {
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      const std::string name = entry.path().filename().string();
      if (name.find(".extracting") != std::string::npos) seen = true;
    }
    exited = !seen && waitpid(pid, &status, WNOHANG) == pid;
    if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_TRUE(seen) << "the extraction was not observed (exited: " << exited << ")";
  kill(pid, SIGTERM);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "status " << status;
  EXPECT_EQ(left_in(dir.path()), std::vector<std::string>{"meta.yaml"});
}

}  // namespace
