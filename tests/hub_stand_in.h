// A stand-in Hugging Face Hub for the hub tests: a cpp-httplib server on 127.0.0.1 (ephemeral port)
// with the Hub's endpoints — revision info JSON, HEAD/GET resolve with ETag / X-Repo-Commit /
// X-Linked-Etag / X-Linked-Size, large files redirected to a "CDN" on another origin (localhost)
// that honors Range — plus switches for the failures a real network produces.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace coreml::test {

struct StandInFile {
  std::string content;
  std::string etag;  // git blob id for small files, sha256 for LFS files
  bool lfs = false;
};

struct StandInRepo {
  std::string sha;
  std::map<std::string, StandInFile> files;
  std::string required_token;  // non-empty: 401 without "Authorization: Bearer <token>"
};

inline std::string read_test_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The weights file's bytes; its sha256 below comes from Python hashlib.
inline std::string weights_bytes() {
  std::string data(200000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 31 + (i >> 8)) & 0xFF);
  return data;
}
inline constexpr const char* kWeightsSha256 =
    "9dd3bc1b9376015e4c5c149f6321984ccf13f551f9263d22edcd3b2670baa25a";
inline constexpr const char* kTinyZipSha256 =
    "92f7125f4f509e6f140366c9b42438937843b1a45610c59e8a8f4c62e7afcaa1";
inline constexpr const char* kTinySha = "3f1c2a5b7d9e0f1a2b3c4d5e6f708192a3b4c5d6";
inline constexpr const char* kConfigJson = "{\"model_type\": \"tiny\"}\n";
inline constexpr const char* kConfigEtag = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

class StandInHub {
 public:
  StandInHub() {
    const std::string data = COREML_TEST_DATA_DIR "/hub/";
    StandInRepo tiny;
    tiny.sha = kTinySha;
    tiny.files["config.json"] = {kConfigJson, kConfigEtag, false};
    tiny.files["README.md"] = {"# tiny\n", "0badc0de0badc0de0badc0de0badc0de0badc0de", false};
    tiny.files["weights/model.bin"] = {weights_bytes(), kWeightsSha256, true};
    tiny.files["Tiny.mlmodelc.zip"] = {read_test_file(data + "Tiny.mlmodelc.zip"), kTinyZipSha256,
                                       true};
    repos_["acme/tiny"] = tiny;

    StandInRepo evil;
    evil.sha = "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3";
    evil.files["dotdot/x.mlmodelc.zip"] = {
        read_test_file(data + "evil_dotdot.mlmodelc.zip"),
        "ed6a4a27be37421c19032f03c78a109d281eedcbb3bf9bda44c73b3076a1e482", true};
    evil.files["absolute/x.mlmodelc.zip"] = {
        read_test_file(data + "evil_absolute.mlmodelc.zip"),
        "61094f3bc0101dc34c932eb9b16962f8ad5e90e98cdc5fe4c9fda835b60f2013", true};
    evil.files["symlink/x.mlmodelc.zip"] = {
        read_test_file(data + "evil_symlink.mlmodelc.zip"),
        "656ffb8748a747b5d1b135a65873a071c6a84ddcfae05418bf8794e518b1b9ef", true};
    repos_["acme/evil"] = evil;

    StandInRepo gated;
    gated.sha = "9999999999999999999999999999999999999999";
    gated.files["config.json"] = {kConfigJson, kConfigEtag, false};
    gated.required_token = "secret-token";
    repos_["acme/private"] = gated;

    install_routes();
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~StandInHub() {
    server_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  // Counters and switches; the tests read and set them between downloads.
  std::atomic<int> api_requests{0};
  std::atomic<int> head_requests{0};
  std::atomic<int> file_gets{0};         // GETs of resolve URLs and of the CDN
  std::atomic<int> drop_next_cdn{0};     // CDN answers that send half the body, then hang up
  std::atomic<int> fail_next_gets{0};    // file GETs answered with 500
  std::atomic<bool> corrupt_lfs{false};  // the CDN flips one byte of every file
  // LFS files come straight from the resolve URL with their sha256 as ETag and no
  // X-Linked-Etag (as some mirrors serve them); corrupt_lfs applies there too.
  std::atomic<bool> serve_lfs_directly{false};

  std::vector<std::string> range_headers() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ranges_;
  }
  std::vector<std::string> cdn_authorizations() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cdn_authorizations_;
  }

 private:
  const StandInRepo* find_repo(const std::string& id) const {
    const auto it = repos_.find(id);
    return it == repos_.end() ? nullptr : &it->second;
  }

  static bool authorized(const StandInRepo& repo, const httplib::Request& req) {
    return repo.required_token.empty() ||
           req.get_header_value("Authorization") == "Bearer " + repo.required_token;
  }

  static void not_found(httplib::Response& res, const char* code) {
    res.status = 404;
    res.set_header("X-Error-Code", code);
    res.set_content(std::string("{\"error\": \"") + code + "\"}", "application/json");
  }

  void install_routes() {
    server_.Get(R"(/api/models/([^/]+)/([^/]+)/revision/(.+))", [this](const httplib::Request& req,
                                                                       httplib::Response& res) {
      ++api_requests;
      const StandInRepo* repo = find_repo(req.matches[1].str() + "/" + req.matches[2].str());
      if (!repo) return not_found(res, "RepoNotFound");
      if (!authorized(*repo, req)) {
        res.status = 401;
        res.set_header("X-Error-Code", "RepoNotFound");
        return;
      }
      const std::string revision = req.matches[3];
      if (revision != "main" && revision != repo->sha) {
        return not_found(res, "RevisionNotFound");
      }
      std::string json = "{\"id\": \"" + req.matches[1].str() + "/" + req.matches[2].str() +
                         "\", \"sha\": \"" + repo->sha + "\", \"siblings\": [";
      bool first = true;
      for (const auto& [name, file] : repo->files) {
        json += std::string(first ? "" : ", ") + "{\"rfilename\": \"" + name + "\"}";
        first = false;
      }
      res.set_content(json + "]}", "application/json");
    });
    // HEAD requests reach GET handlers in cpp-httplib (the body is not sent).
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))", [this](const httplib::Request& req,
                                                                   httplib::Response& res) {
      const bool head = req.method == "HEAD";
      if (head) {
        ++head_requests;
      } else {
        ++file_gets;
      }
      const StandInRepo* repo = find_repo(req.matches[1].str() + "/" + req.matches[2].str());
      if (!repo) return not_found(res, "RepoNotFound");
      if (!authorized(*repo, req)) {
        res.status = 401;
        return;
      }
      if (req.matches[3] != repo->sha && req.matches[3] != "main") {
        return not_found(res, "RevisionNotFound");
      }
      const auto file = repo->files.find(req.matches[4]);
      if (file == repo->files.end()) return not_found(res, "EntryNotFound");
      if (!head && fail_next_gets.load() > 0) {
        --fail_next_gets;
        res.status = 500;
        return;
      }
      res.set_header("X-Repo-Commit", repo->sha);
      if (file->second.lfs && serve_lfs_directly) {
        std::string content = file->second.content;
        if (corrupt_lfs) content[content.size() / 2] ^= 0x5A;
        res.set_header("ETag", "\"" + file->second.etag + "\"");
        res.set_content(content, "application/octet-stream");
        return;
      }
      if (file->second.lfs) {
        res.set_header("ETag", "\"0123456789abcdef0123456789abcdef01234567\"");
        res.set_header("X-Linked-Etag", "\"" + file->second.etag + "\"");
        res.set_header("X-Linked-Size", std::to_string(file->second.content.size()));
        // Another origin (localhost, not 127.0.0.1), like a CDN.
        res.set_redirect("http://localhost:" + std::to_string(port_) + "/cdn/" + file->second.etag,
                         302);
        return;
      }
      res.set_header("ETag", "\"" + file->second.etag + "\"");
      res.set_content(file->second.content, "application/octet-stream");
    });
    server_.Get(R"(/cdn/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
      ++file_gets;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (req.has_header("Range")) ranges_.push_back(req.get_header_value("Range"));
        cdn_authorizations_.push_back(req.get_header_value("Authorization"));
      }
      const StandInFile* found = nullptr;
      for (const auto& [id, repo] : repos_) {
        for (const auto& [name, file] : repo.files) {
          if (file.etag == req.matches[1]) found = &file;
        }
      }
      if (!found) return not_found(res, "EntryNotFound");
      if (fail_next_gets.load() > 0) {
        --fail_next_gets;
        res.status = 500;
        return;
      }
      auto content = std::make_shared<std::string>(found->content);
      if (corrupt_lfs) (*content)[content->size() / 2] ^= 0x5A;
      if (drop_next_cdn.load() > 0) {
        --drop_next_cdn;
        res.set_content_provider(content->size(), "application/octet-stream",
                                 [content](size_t offset, size_t length, httplib::DataSink& sink) {
                                   sink.write(content->data() + offset, length / 2);
                                   return false;  // hang up mid-file
                                 });
        return;
      }
      // cpp-httplib answers Range requests itself (206 with the slice).
      res.set_content(*content, "application/octet-stream");
    });
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  std::map<std::string, StandInRepo> repos_;
  std::mutex mutex_;
  std::vector<std::string> ranges_;
  std::vector<std::string> cdn_authorizations_;
};

}  // namespace coreml::test
