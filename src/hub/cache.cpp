#include "hub/cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "coreml/error.h"
#include "format/file_util.h"

namespace coreml::hub {
namespace fs = std::filesystem;
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

std::string expand_home(const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  return env("HOME") + path.substr(1);
}

bool env_true(const char* name) {
  std::string value = env(name);
  for (auto& c : value) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return value == "1" || value == "ON" || value == "YES" || value == "TRUE";
}

std::string hf_home() {
  if (const std::string home = env("HF_HOME"); !home.empty()) return expand_home(home);
  const std::string xdg = env("XDG_CACHE_HOME");
  return (xdg.empty() ? env("HOME") + "/.cache" : expand_home(xdg)) + "/huggingface";
}

std::string trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::string unique_suffix() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  std::ostringstream out;
  out << std::hex << getpid() << "-" << generator();
  return out.str();
}

}  // namespace

std::string default_cache_dir() {
  if (const std::string cache = env("HF_HUB_CACHE"); !cache.empty()) return expand_home(cache);
  if (const std::string legacy = env("HUGGINGFACE_HUB_CACHE"); !legacy.empty()) {
    return expand_home(legacy);
  }
  return hf_home() + "/hub";
}

HubSettings resolve_settings(const DownloadOptions& options) {
  HubSettings settings;
  settings.endpoint = !options.endpoint.empty() ? options.endpoint : env("HF_ENDPOINT");
  if (settings.endpoint.empty()) settings.endpoint = "https://huggingface.co";
  while (!settings.endpoint.empty() && settings.endpoint.back() == '/')
    settings.endpoint.pop_back();
  settings.cache_root =
      !options.cache_dir.empty() ? expand_home(options.cache_dir) : default_cache_dir();
  if (options.token) {
    settings.token = *options.token;
  } else if (const std::string token = trim(env("HF_TOKEN")); !token.empty()) {
    settings.token = token;
  } else {
    std::string token_path = expand_home(env("HF_TOKEN_PATH"));
    if (token_path.empty()) token_path = hf_home() + "/token";
    if (const auto text = read_small_file(token_path)) settings.token = trim(*text);
  }
  settings.offline = options.offline || env_true("HF_HUB_OFFLINE");
  return settings;
}

std::string repo_folder_name(const std::string& repo_id) {
  std::string name = "models";
  size_t start = 0;
  while (true) {
    const size_t slash = repo_id.find('/', start);
    name += "--" + repo_id.substr(start, slash - start);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return name;
}

std::string normalize_etag(const std::string& etag) {
  std::string text = trim(etag);
  if (text.rfind("W/", 0) == 0) text = text.substr(2);
  while (!text.empty() && text.front() == '"') text.erase(text.begin());
  while (!text.empty() && text.back() == '"') text.pop_back();
  return text;
}

bool is_safe_repo_path(const std::string& path) {
  if (path.empty() || path.size() > 4096 || path.front() == '/') return false;
  if (path.find('\\') != std::string::npos || path.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    const std::string part = path.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = slash + 1;
  }
  return true;
}

bool is_commit_sha(const std::string& text) {
  if (text.size() != 40) return false;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

void write_file_atomically(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  const std::string temp = path + "." + unique_suffix() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      fail(ErrorCode::kIo, "cannot write ", path, ": ", std::strerror(errno));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::error_code ignored;
    fs::remove(temp, ignored);
    fail(ErrorCode::kIo, "cannot write ", path, ": ", std::strerror(saved));
  }
}

std::optional<std::string> read_small_file(const std::string& path) {
  return format::read_optional_file(path, 4096);
}

void link_into_snapshot(const std::string& snapshot_dir, const std::string& repo_path,
                        const std::string& blob_path) {
  const fs::path link = fs::path(snapshot_dir) / repo_path;
  fs::create_directories(link.parent_path());
  // Relative target, like huggingface_hub, so a moved cache keeps working.
  const fs::path target = fs::path(blob_path).lexically_relative(link.parent_path());
  const std::string temp = link.string() + "." + unique_suffix() + ".tmp";
  if (symlink(target.c_str(), temp.c_str()) != 0) {
    fail(ErrorCode::kIo, "cannot create symlink ", link.string(), ": ", std::strerror(errno));
  }
  if (std::rename(temp.c_str(), link.c_str()) != 0) {
    const int saved = errno;
    unlink(temp.c_str());
    fail(ErrorCode::kIo, "cannot create symlink ", link.string(), ": ", std::strerror(saved));
  }
}

FileLock::FileLock(const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(ErrorCode::kIo, "cannot open lock file ", path, ": ", std::strerror(errno));
  while (flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int saved = errno;
    close(fd_);
    fd_ = -1;
    fail(ErrorCode::kIo, "cannot lock ", path, ": ", std::strerror(saved));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    flock(fd_, LOCK_UN);
    close(fd_);
  }
}

}  // namespace coreml::hub
