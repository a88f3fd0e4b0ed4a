// Hub downloads against the in-process stand-in Hub (tests/hub_stand_in.h). Expected hashes come
// from Python hashlib; the expected cache layout is huggingface_hub's (file_download.py).
#include "coreml/hub.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "coreml/error.h"
#include "hub/sha256.h"
#include "hub_stand_in.h"
#include "test_support.h"

extern char** environ;

namespace fs = std::filesystem;
using coreml::hub::DownloadOptions;
using coreml::hub::snapshot_download;
using coreml::test::error_of;
using coreml::test::StandInHub;

namespace {

std::string read_all(const fs::path& path) { return coreml::test::read_test_file(path.string()); }

// Each test's own folder.
struct TempDir : coreml::test::TempDir {
  TempDir() : coreml::test::TempDir("hub_test") {}
};

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_TOKEN");
    setenv("HF_HOME", (cache.path() / "home").c_str(), 1);  // no token file from the machine
  }
  DownloadOptions options() const {
    DownloadOptions o;
    o.endpoint = hub.endpoint();
    o.cache_dir = (cache.path() / "hub").string();
    o.retry_delay = std::chrono::milliseconds(10);
    o.connect_timeout = std::chrono::seconds(5);
    o.stall_timeout = std::chrono::seconds(10);
    return o;
  }
  fs::path storage() const { return cache.path() / "hub" / "models--acme--tiny"; }
  fs::path snapshot() const { return storage() / "snapshots" / coreml::test::kTinySha; }

  void expect_complete_tiny_snapshot(const std::string& path) {
    EXPECT_EQ(path, snapshot().string());
    EXPECT_EQ(read_all(snapshot() / "config.json"), coreml::test::kConfigJson);
    EXPECT_TRUE(read_all(snapshot() / "weights/model.bin") == coreml::test::weights_bytes());
    EXPECT_EQ(read_all(snapshot() / "Tiny.mlmodelc/model.mil").substr(0, 12), "program(1.0)");
    EXPECT_EQ(read_all(storage() / "refs/main"), coreml::test::kTinySha);
  }

  TempDir cache;
  StandInHub hub;
};

TEST(Sha256, MatchesHashlib) {
  const auto hex = [](const std::string& data) {
    coreml::hub::Sha256 hasher;
    hasher.update(data.data(), data.size());
    return hasher.hex_digest();
  };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Fed in uneven pieces.
  std::string data;
  for (int i = 0; i < 768; ++i) data.push_back(static_cast<char>(i % 256));
  coreml::hub::Sha256 pieces;
  for (size_t at = 0, step = 1; at < data.size(); at += step, step = step * 2 + 1) {
    pieces.update(data.data() + at, std::min(step, data.size() - at));
  }
  EXPECT_EQ(pieces.hex_digest(),
            "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363");
  EXPECT_EQ(hex(coreml::test::weights_bytes()), coreml::test::kWeightsSha256);
}

TEST(ModelReference, RepoIdsAndRevisions) {
  using coreml::hub::is_repo_id;
  EXPECT_TRUE(is_repo_id("anemll/anemll-Qwen-Qwen3-0.6B-ctx512_0.3.4"));
  EXPECT_TRUE(is_repo_id("org/name@v1.0"));
  EXPECT_TRUE(is_repo_id("org/name@refs/pr/1"));
  EXPECT_FALSE(is_repo_id("name"));
  EXPECT_FALSE(is_repo_id("a/b/c"));
  EXPECT_FALSE(is_repo_id("./model.mlpackage"));
  EXPECT_FALSE(is_repo_id("/abs/path"));
  EXPECT_FALSE(is_repo_id("org/na--me"));
  EXPECT_FALSE(is_repo_id("org/name@"));
  EXPECT_FALSE(is_repo_id("org/name@../x"));
  const auto ref = coreml::hub::parse_model_reference("anemll/model@abc123");
  EXPECT_EQ(ref.repo_id, "anemll/model");
  EXPECT_EQ(ref.revision, "abc123");
  EXPECT_EQ(coreml::hub::parse_model_reference("a/b").revision, "");
  EXPECT_THROW(coreml::hub::parse_model_reference("nope"), coreml::Error);
}

TEST_F(HubTest, FullDownloadLaysOutTheHuggingfaceHubCache) {
  DownloadOptions o = options();
  o.token = "secret-token";
  std::vector<std::string> reported;
  o.progress = [&](const coreml::hub::DownloadProgress& p) {
    if (p.finished) reported.push_back(p.file);
  };
  const std::string path = snapshot_download("acme/tiny", o);
  expect_complete_tiny_snapshot(path);
  EXPECT_EQ(read_all(snapshot() / "README.md"), "# tiny\n");
  // Relative symlinks into blobs/, one "../" more per folder level; LFS blobs named by sha256.
  EXPECT_EQ(fs::read_symlink(snapshot() / "config.json").string(),
            std::string("../../blobs/") + coreml::test::kConfigEtag);
  EXPECT_EQ(fs::read_symlink(snapshot() / "weights/model.bin").string(),
            std::string("../../../blobs/") + coreml::test::kWeightsSha256);
  EXPECT_TRUE(fs::is_regular_file(storage() / "blobs" / coreml::test::kWeightsSha256));
  EXPECT_TRUE(fs::exists(cache.path() / "hub/.locks/models--acme--tiny"));
  for (const auto& entry : fs::recursive_directory_iterator(storage())) {
    EXPECT_EQ(entry.path().string().find(".incomplete"), std::string::npos) << entry.path();
  }
  // The zip was extracted next to itself, its inner folder becoming X.mlmodelc.
  EXPECT_EQ(read_all(snapshot() / "Tiny.mlmodelc/weights/alias.bin").size(), 256u);
  EXPECT_TRUE(fs::is_symlink(snapshot() / "Tiny.mlmodelc/weights/alias.bin"));
  EXPECT_FALSE(fs::exists(snapshot() / "Tiny.mlmodelc/Tiny.mlmodelc"));
  // The token went to the Hub but not to the CDN on another origin.
  for (const auto& auth : hub.cdn_authorizations()) EXPECT_EQ(auth, "");
  EXPECT_EQ(reported.size(), 4u);
}

TEST_F(HubTest, SecondDownloadReusesTheCache) {
  snapshot_download("acme/tiny", options());
  const int gets = hub.file_gets;
  const int heads = hub.head_requests;
  EXPECT_GE(gets, 4);
  expect_complete_tiny_snapshot(snapshot_download("acme/tiny", options()));
  EXPECT_EQ(hub.file_gets, gets);
  EXPECT_EQ(hub.head_requests, heads);
}

TEST_F(HubTest, ResumesAfterADroppedConnection) {
  hub.drop_next_cdn = 1;
  DownloadOptions o = options();
  o.allow_patterns = {"weights/*"};
  snapshot_download("acme/tiny", o);
  EXPECT_TRUE(read_all(snapshot() / "weights/model.bin") == coreml::test::weights_bytes());
  const auto ranges = hub.range_headers();
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0], "bytes=100000-");  // the half that arrived before the drop
}

TEST_F(HubTest, ResumesAPartialFileLeftByAnEarlierRun) {
  const std::string data = coreml::test::weights_bytes();
  fs::create_directories(storage() / "blobs");
  std::ofstream(storage() / "blobs" / (std::string(coreml::test::kWeightsSha256) + ".incomplete"),
                std::ios::binary)
      << data.substr(0, 12345);
  DownloadOptions o = options();
  o.allow_patterns = {"*.bin"};  // `*` crosses '/', as in huggingface_hub
  snapshot_download("acme/tiny", o);
  EXPECT_TRUE(read_all(snapshot() / "weights/model.bin") == data);
  ASSERT_EQ(hub.range_headers().size(), 1u);
  EXPECT_EQ(hub.range_headers()[0], "bytes=12345-");
}

TEST_F(HubTest, RetriesServerErrors) {
  hub.fail_next_gets = 2;
  expect_complete_tiny_snapshot(snapshot_download("acme/tiny", options()));
}

TEST_F(HubTest, GivesUpAfterBoundedRetries) {
  hub.fail_next_gets = 100;
  DownloadOptions o = options();
  o.max_attempts = 3;
  o.allow_patterns = {"config.json"};
  const std::string message = error_of([&] { snapshot_download("acme/tiny", o); });
  EXPECT_NE(message.find("after 3 attempts"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(snapshot() / "config.json"));
  EXPECT_FALSE(fs::exists(storage() / "refs/main"));
}

TEST_F(HubTest, ChecksumMismatchLeavesNothingInTheSnapshot) {
  hub.corrupt_lfs = true;
  DownloadOptions o = options();
  o.allow_patterns = {"weights/"};
  const std::string message = error_of([&] { snapshot_download("acme/tiny", o); });
  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find("weights/model.bin"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(snapshot() / "weights/model.bin"));
  EXPECT_FALSE(fs::exists(storage() / "blobs" / coreml::test::kWeightsSha256));
  EXPECT_FALSE(fs::exists(storage() / "blobs" /
                          (std::string(coreml::test::kWeightsSha256) + ".incomplete")));
  hub.corrupt_lfs = false;  // the next run starts over and succeeds
  snapshot_download("acme/tiny", o);
  EXPECT_TRUE(read_all(snapshot() / "weights/model.bin") == coreml::test::weights_bytes());
}

// A download that failed half-way (here: a checksum mismatch) leaves a snapshot folder holding
// some files, and refs/main may already point at it (an earlier download of some files only).
// Offline mode must not take it for the repository: the file list recorded when the download
// started says what is missing.
TEST_F(HubTest, OfflineModeRefusesASnapshotAFailedDownloadLeft) {
  DownloadOptions readme = options();
  readme.allow_patterns = {"README.md"};
  snapshot_download("acme/tiny", readme);  // complete for README.md; refs/main written
  hub.corrupt_lfs = true;
  EXPECT_NE(error_of([&] { snapshot_download("acme/tiny", options()); }).find("checksum mismatch"),
            std::string::npos);
  const std::string listed =
      read_all(storage() / ".coreml" / (std::string(coreml::test::kTinySha) + ".files.json"));
  EXPECT_NE(listed.find("\"weights/model.bin\""), std::string::npos) << listed;
  DownloadOptions offline = options();
  offline.offline = true;
  for (const auto& revision : {std::string("main"), std::string(coreml::test::kTinySha)}) {
    offline.revision = revision;
    const std::string message = error_of([&] { snapshot_download("acme/tiny", offline); });
    EXPECT_NE(message.find("is incomplete"), std::string::npos) << message;
    EXPECT_NE(message.find("'weights/model.bin'"), std::string::npos) << message;
  }
  // What the requested patterns select is complete.
  offline.revision = "main";
  offline.allow_patterns = {"README.md"};
  EXPECT_EQ(snapshot_download("acme/tiny", offline), snapshot().string());
  hub.corrupt_lfs = false;
  snapshot_download("acme/tiny", options());
  offline.allow_patterns = {};
  expect_complete_tiny_snapshot(snapshot_download("acme/tiny", offline));
}

// With no X-Linked-Etag, a 64-hex ETag is still the sha256 of the content: it is verified.
TEST_F(HubTest, Sha256EtagIsVerifiedWithoutXLinkedEtag) {
  hub.serve_lfs_directly = true;
  hub.corrupt_lfs = true;
  DownloadOptions o = options();
  o.allow_patterns = {"weights/"};
  const std::string message = error_of([&] { snapshot_download("acme/tiny", o); });
  EXPECT_NE(message.find("checksum mismatch for 'weights/model.bin'"), std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(storage() / "blobs" / coreml::test::kWeightsSha256));
  hub.corrupt_lfs = false;
  snapshot_download("acme/tiny", o);
  EXPECT_TRUE(read_all(storage() / "blobs" / coreml::test::kWeightsSha256) ==
              coreml::test::weights_bytes());
}

TEST_F(HubTest, OfflineModeUsesOnlyTheCache) {
  DownloadOptions o = options();
  o.offline = true;
  EXPECT_NE(error_of([&] { snapshot_download("acme/tiny", o); }).find("not in the cache"),
            std::string::npos);
  snapshot_download("acme/tiny", options());
  const int api = hub.api_requests;
  EXPECT_EQ(snapshot_download("acme/tiny", o), snapshot().string());
  setenv("HF_HUB_OFFLINE", "1", 1);
  DownloadOptions dead = options();
  dead.endpoint = "http://127.0.0.1:1";
  EXPECT_EQ(snapshot_download("acme/tiny", dead), snapshot().string());
  unsetenv("HF_HUB_OFFLINE");
  EXPECT_EQ(hub.api_requests, api);
}

// A cache laid out by hand exactly as huggingface_hub writes it (blobs named by etag, relative
// symlinks, refs/main) is reused: no file is requested, with or without network.
TEST_F(HubTest, ReusesACacheWrittenByHuggingfaceHub) {
  const fs::path blobs = storage() / "blobs";
  fs::create_directories(blobs);
  fs::create_directories(snapshot() / "weights");
  fs::create_directories(storage() / "refs");
  std::ofstream(storage() / "refs/main") << coreml::test::kTinySha;
  const auto put = [&](const std::string& path, const std::string& etag, const std::string& data,
                       const std::string& up) {
    std::ofstream(blobs / etag, std::ios::binary) << data;
    fs::create_symlink(up + "blobs/" + etag, snapshot() / path);
  };
  put("config.json", coreml::test::kConfigEtag, coreml::test::kConfigJson, "../../");
  put("README.md", "0badc0de0badc0de0badc0de0badc0de0badc0de", "# tiny\n", "../../");
  put("weights/model.bin", coreml::test::kWeightsSha256, coreml::test::weights_bytes(),
      "../../../");
  put("Tiny.mlmodelc.zip", coreml::test::kTinyZipSha256,
      read_all(COREML_TEST_DATA_DIR "/hub/Tiny.mlmodelc.zip"), "../../");
  DownloadOptions dead = options();
  dead.endpoint = "http://127.0.0.1:1";
  dead.offline = true;
  expect_complete_tiny_snapshot(snapshot_download("acme/tiny", dead));  // extracts the zip too
  expect_complete_tiny_snapshot(snapshot_download("acme/tiny", options()));
  EXPECT_EQ(hub.file_gets, 0);
  EXPECT_EQ(hub.head_requests, 0);
}

TEST_F(HubTest, UnauthorizedMentionsTheToken) {
  const std::string message = error_of([&] { snapshot_download("acme/private", options()); });
  EXPECT_NE(message.find("HF_TOKEN"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  DownloadOptions o = options();
  setenv("HF_TOKEN", "secret-token", 1);
  const std::string path = snapshot_download("acme/private", o);
  unsetenv("HF_TOKEN");
  EXPECT_EQ(read_all(fs::path(path) / "config.json"), coreml::test::kConfigJson);
}

TEST_F(HubTest, TokenFileUnderHfHomeIsUsed) {
  fs::create_directories(cache.path() / "home");
  std::ofstream(cache.path() / "home/token") << "secret-token\n";
  EXPECT_NO_THROW(snapshot_download("acme/private", options()));
}

TEST_F(HubTest, MissingRepoAndRevision) {
  const std::string missing = error_of([&] { snapshot_download("acme/missing", options()); });
  EXPECT_NE(missing.find("repository acme/missing not found"), std::string::npos) << missing;
  DownloadOptions o = options();
  o.revision = "no-such-branch";
  const std::string revision = error_of([&] { snapshot_download("acme/tiny", o); });
  EXPECT_NE(revision.find("revision 'no-such-branch' not found in acme/tiny"), std::string::npos)
      << revision;
  EXPECT_FALSE(fs::exists(storage() / "refs"));
}

TEST_F(HubTest, AllowPatternsSelectFiles) {
  DownloadOptions o = options();
  o.allow_patterns = {"*.json", "READ?E.md"};
  snapshot_download("acme/tiny", o);
  EXPECT_TRUE(fs::exists(snapshot() / "config.json"));
  EXPECT_TRUE(fs::exists(snapshot() / "README.md"));
  EXPECT_FALSE(fs::exists(snapshot() / "weights"));
  EXPECT_FALSE(fs::exists(snapshot() / "Tiny.mlmodelc.zip"));
  EXPECT_EQ(hub.file_gets, 2);
}

TEST_F(HubTest, RefusesZipsThatEscapeTheirFolder) {
  const fs::path snap = cache.path() / "hub/models--acme--evil/snapshots" /
                        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3";
  for (const std::string kind : {"dotdot", "absolute", "symlink"}) {
    DownloadOptions o = options();
    o.allow_patterns = {kind + "/*"};
    const std::string message = error_of([&] { snapshot_download("acme/evil", o); });
    EXPECT_NE(message.find("refusing"), std::string::npos) << kind << ": " << message;
    EXPECT_FALSE(fs::exists(snap / kind / "x.mlmodelc")) << kind;
    for (const auto& entry : fs::directory_iterator(snap / kind)) {
      EXPECT_EQ(entry.path().filename(), "x.mlmodelc.zip") << "left behind: " << entry.path();
    }
  }
  EXPECT_FALSE(fs::exists(snap / "evil_dotdot.txt"));
  EXPECT_FALSE(fs::exists(snap / "dotdot/evil_dotdot.txt"));
  EXPECT_FALSE(fs::exists("/tmp/coreml_hub_evil_absolute.txt"));
}

TEST_F(HubTest, ConcurrentDownloadsOfTheSameRepoBothSucceed) {
  std::string first, second, first_error, second_error;
  const auto run = [&](std::string& path, std::string& error) {
    try {
      path = snapshot_download("acme/tiny", options());
    } catch (const coreml::Error& e) {
      error = e.what();
    }
  };
  std::thread a(run, std::ref(first), std::ref(first_error));
  std::thread b(run, std::ref(second), std::ref(second_error));
  a.join();
  b.join();
  EXPECT_EQ(first_error, "");
  EXPECT_EQ(second_error, "");
  expect_complete_tiny_snapshot(first);
  EXPECT_EQ(first, second);
}

TEST_F(HubTest, ConcurrentProcessesCoordinateThroughLocks) {
  // The second process is the `coreml download` CLI, started with exec: forking this
  // multithreaded process (the stand-in Hub's threads) and downloading in the child can deadlock.
  setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
  setenv("HF_HUB_CACHE", options().cache_dir.c_str(), 1);
  unsetenv("HF_HUB_OFFLINE");
  std::string cli = COREML_CLI_PATH, command = "download", repo = "acme/tiny", quiet = "--quiet";
  std::vector<char*> argv = {cli.data(), command.data(), repo.data(), quiet.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t child = 0;
  const int spawned = posix_spawn(&child, cli.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ASSERT_EQ(spawned, 0);
  const std::string path = snapshot_download("acme/tiny", options());
  int status = 0;
  waitpid(child, &status, 0);
  unsetenv("HF_ENDPOINT");
  unsetenv("HF_HUB_CACHE");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  expect_complete_tiny_snapshot(path);
}

TEST_F(HubTest, NetworkDownIsOneClearLine) {
  DownloadOptions dead = options();
  dead.endpoint = "http://127.0.0.1:1";
  dead.max_attempts = 2;
  const std::string message = error_of([&] { snapshot_download("acme/tiny", dead); });
  EXPECT_NE(message.find("cannot reach http://127.0.0.1:1"), std::string::npos) << message;
  snapshot_download("acme/tiny", options());
  const std::string cached = error_of([&] { snapshot_download("acme/tiny", dead); });
  EXPECT_NE(cached.find("HF_HUB_OFFLINE=1"), std::string::npos) << cached;
}

TEST_F(HubTest, ResolveModelPathKeepsLocalPathsAndDownloadsRepoIds) {
  const std::string local = (cache.path() / "org").string();
  fs::create_directories(local + "/name");
  EXPECT_EQ(coreml::hub::resolve_model_path(local + "/name", options()), local + "/name");
  EXPECT_EQ(coreml::hub::resolve_model_path(std::string("acme/tiny@") + coreml::test::kTinySha,
                                            options()),
            snapshot().string());
  EXPECT_FALSE(fs::exists(storage() / "refs"));  // a commit needs no ref
  EXPECT_THROW(coreml::hub::resolve_model_path("missing.mlpackage", options()), coreml::Error);
}

TEST_F(HubTest, CacheRootFollowsTheEnvironment) {
  setenv("HF_HUB_CACHE", "/somewhere/hub", 1);
  EXPECT_EQ(coreml::hub::default_cache_dir(), "/somewhere/hub");
  unsetenv("HF_HUB_CACHE");
  setenv("HF_HOME", "/home/x/hf", 1);
  EXPECT_EQ(coreml::hub::default_cache_dir(), "/home/x/hf/hub");
}

// Leaves a downloaded cache for tools/fixtures/check_hub_cache_with_python.py when asked.
TEST_F(HubTest, LeavesACacheForThePythonCheck) {
  const char* target = std::getenv("COREML_HUB_PYTHON_CHECK_DIR");
  if (!target) GTEST_SKIP() << "set COREML_HUB_PYTHON_CHECK_DIR to keep a cache for Python";
  DownloadOptions o = options();
  o.cache_dir = target;
  std::cout << snapshot_download("acme/tiny", o) << "\n";
}

}  // namespace
