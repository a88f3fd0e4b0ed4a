// snapshot_download: the Hub protocol (revision info, HEAD for metadata, GET with resume), retried
// with backoff, written into the huggingface_hub cache layout so that nothing half-done is ever
// visible under snapshots/.
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "coreml/error.h"
#include "coreml/hub.h"
#include "format/file_util.h"
#include "format/json_util.h"
#include "hub/cache.h"
#include "hub/extract.h"
#include "hub/http.h"
#include "hub/progress.h"
#include "hub/sha256.h"

namespace coreml::hub {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxFiles = 100000;
constexpr uint64_t kMaxFileListBytes = uint64_t{64} << 20;
constexpr int kMaxRedirects = 10;

struct Context {
  HubSettings settings;
  const DownloadOptions& options;
  std::string repo_id;
  fs::path storage;  // <cache>/models--org--name
  TerminalProgress terminal;

  void report(const DownloadProgress& progress) {
    if (options.progress) options.progress(progress);
    if (options.show_progress) terminal.update(progress);
  }
};

// Python fnmatch semantics: `*` crosses '/', '\' is a path separator, "dir/" means "dir/*".
bool matches_any(const std::string& path, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return true;
  std::string normalized_path = path;
  std::replace(normalized_path.begin(), normalized_path.end(), '\\', '/');
  for (std::string pattern : patterns) {
    std::replace(pattern.begin(), pattern.end(), '\\', '/');
    if (!pattern.empty() && pattern.back() == '/') pattern += "*";
    if (fnmatch(pattern.c_str(), normalized_path.c_str(), FNM_NOESCAPE) == 0) return true;
  }
  return false;
}

std::string read_small_file_or_empty(const fs::path& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return {};
  return format::read_small_file(path, kMaxFileListBytes);
}

bool is_safe_etag(const std::string& etag) {
  if (etag.empty() || etag.size() > 200) return false;
  return std::all_of(etag.begin(), etag.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

bool is_sha256_hex(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

std::vector<std::string> request_headers(const Context& ctx, const std::string& url) {
  std::vector<std::string> headers = {"Accept-Encoding: identity"};
  // Credentials go to the Hub only, never to the CDN a file redirects to.
  if (!ctx.settings.token.empty() && url_origin(url) == url_origin(ctx.settings.endpoint)) {
    headers.push_back("Authorization: Bearer " + ctx.settings.token);
  }
  return headers;
}

HttpRequest make_request(const Context& ctx, const std::string& method, const std::string& url) {
  HttpRequest request;
  request.method = method;
  request.url = url;
  request.headers = request_headers(ctx, url);
  request.connect_timeout = ctx.options.connect_timeout;
  request.stall_timeout = ctx.options.stall_timeout;
  return request;
}

bool worth_retrying(const HttpResult& result) {
  if (result.failure == TransportFailure::kInterrupted ||
      result.failure == TransportFailure::kCouldNotConnect) {
    return true;
  }
  if (result.failure != TransportFailure::kNone) return false;
  return result.response.status >= 500 || result.response.status == 429;
}

void backoff(const Context& ctx, int attempt) {
  const auto delay = ctx.options.retry_delay * (1 << std::min(attempt, 10));
  std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(30)));
}

// Where we record a revision's file list, outside snapshots/ (huggingface_hub ignores it):
// with it, "is this snapshot complete?" has an answer that does not trust the folder.
fs::path file_list_path(const Context& ctx, const std::string& sha) {
  return ctx.storage / ".coreml" / (sha + ".files.json");
}

void record_file_list(const Context& ctx, const std::string& sha,
                      const std::vector<std::string>& files) {
  const std::string text = nlohmann::json(files).dump();
  const fs::path path = file_list_path(ctx, sha);
  if (read_small_file_or_empty(path) != text) write_file_atomically(path.string(), text);
}

// The recorded file list of `sha`, or nullopt for a snapshot some other tool downloaded.
std::optional<std::vector<std::string>> recorded_file_list(const Context& ctx,
                                                           const std::string& sha) {
  const fs::path path = file_list_path(ctx, sha);
  const auto text = format::read_optional_file(path, kMaxFileListBytes);
  if (!text) return std::nullopt;
  const nlohmann::json list = format::parse_json(*text, path.string());
  std::vector<std::string> files;
  if (!list.is_array() || list.size() > kMaxFiles) {
    fail(ErrorCode::kParse, path.string(), ": expected an array of at most ", kMaxFiles,
         " file names");
  }
  for (const auto& file : list) {
    if (!file.is_string() || !is_safe_repo_path(file.get<std::string>())) {
      fail(ErrorCode::kParse, path.string(), ": holds an entry that is not a repository path");
    }
    files.push_back(file.get<std::string>());
  }
  return files;
}

// The files of the snapshot that should be there but are not (a download that did not finish):
// against the recorded list when there is one, else every link in the folder must resolve.
std::vector<std::string> missing_files(const Context& ctx, const std::string& sha,
                                       const fs::path& snapshot) {
  std::vector<std::string> missing;
  std::error_code error;
  if (const auto listed = recorded_file_list(ctx, sha)) {
    for (const auto& file : *listed) {
      if (matches_any(file, ctx.options.allow_patterns) && !fs::exists(snapshot / file, error)) {
        missing.push_back(file);
      }
    }
    return missing;
  }
  for (auto it = fs::recursive_directory_iterator(snapshot, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    std::error_code entry_error;
    if (it->is_symlink(entry_error) && !fs::exists(it->path(), entry_error)) {
      missing.push_back(it->path().lexically_relative(snapshot).string());
    }
  }
  return missing;
}

bool snapshot_cached(const Context& ctx, const std::string& revision) {
  std::string sha = revision;
  try {
    if (!is_commit_sha(sha)) {
      const auto ref = read_small_file((ctx.storage / "refs" / revision).string());
      if (!ref) return false;
      sha = normalize_etag(*ref);
    }
    const fs::path snapshot = ctx.storage / "snapshots" / sha;
    return is_commit_sha(sha) && fs::is_directory(snapshot) &&
           missing_files(ctx, sha, snapshot).empty();
  } catch (const Error&) {
    return false;  // only a hint in another error message
  }
}

[[noreturn]] void fail_transport(const Context& ctx, const HttpResult& result,
                                 const std::string& what) {
  if (result.failure == TransportFailure::kCouldNotConnect) {
    fail(ErrorCode::kIo, "cannot reach ", ctx.settings.endpoint, " to download ", ctx.repo_id, " (",
         result.failure_text, ")",
         snapshot_cached(ctx, ctx.options.revision)
             ? "; it is in the cache: set HF_HUB_OFFLINE=1 to use the cached copy"
             : "; check the network or HF_ENDPOINT");
  }
  fail(ErrorCode::kIo, "downloading ", what, " of ", ctx.repo_id, " failed after ",
       ctx.options.max_attempts, " attempts: ",
       result.failure != TransportFailure::kNone
           ? result.failure_text
           : "HTTP " + std::to_string(result.response.status));
}

[[noreturn]] void fail_status(const Context& ctx, const HttpResponse& response,
                              const std::string& what) {
  const std::string code = response.header("x-error-code");
  const int status = response.status;
  if (code == "GatedRepo") {
    fail(ErrorCode::kIo, ctx.repo_id, " is a gated repository (HTTP ", status,
         "): accept its conditions on the Hub, then set HF_TOKEN or write the token to "
         "$HF_HOME/token");
  }
  if (code == "RevisionNotFound") {
    fail(ErrorCode::kNotFound, "revision '", ctx.options.revision, "' not found in ", ctx.repo_id);
  }
  if (code == "RepoNotFound" || (status == 404 && what == "repository information")) {
    fail(ErrorCode::kNotFound, "repository ", ctx.repo_id, " not found on ", ctx.settings.endpoint,
         ctx.settings.token.empty() ? " (if it is private, set HF_TOKEN)" : "");
  }
  if (status == 401 || status == 403) {
    fail(ErrorCode::kIo, "access to ", ctx.repo_id, " denied (HTTP ", status, ") while fetching ",
         what, ": ",
         ctx.settings.token.empty() ? "set HF_TOKEN or write a token to $HF_HOME/token"
                                    : "the token in HF_TOKEN (or $HF_HOME/token) is not accepted");
  }
  if (status == 404) fail(ErrorCode::kNotFound, what, " not found in ", ctx.repo_id);
  fail(ErrorCode::kIo, "unexpected HTTP ", status, " from ", ctx.settings.endpoint, " for ", what,
       " of ", ctx.repo_id);
}

struct RevisionInfo {
  std::string sha;
  std::vector<std::string> files;
};

RevisionInfo fetch_revision_info(Context& ctx) {
  const std::string url = ctx.settings.endpoint + "/api/models/" + ctx.repo_id + "/revision/" +
                          url_encode(ctx.options.revision, false);
  HttpResult result;
  for (int attempt = 0; attempt < ctx.options.max_attempts; ++attempt) {
    if (attempt > 0) backoff(ctx, attempt - 1);
    result = perform_http(make_request(ctx, "GET", url));
    if (!worth_retrying(result)) break;
  }
  if (result.failure != TransportFailure::kNone || result.response.status >= 500) {
    fail_transport(ctx, result, "repository information");
  }
  if (result.response.status != 200) fail_status(ctx, result.response, "repository information");
  const nlohmann::json info = format::parse_json(result.response.body, url);
  RevisionInfo revision;
  if (!info.is_object() || !info.contains("sha") || !info["sha"].is_string() ||
      !is_commit_sha(info["sha"].get<std::string>())) {
    fail(ErrorCode::kParse, url, ": expected a 40-hex 'sha' in the answer");
  }
  revision.sha = info["sha"].get<std::string>();
  const auto siblings = info.find("siblings");
  if (siblings == info.end() || !siblings->is_array() || siblings->size() > kMaxFiles) {
    fail(ErrorCode::kParse, url, ": expected a 'siblings' array of at most ", kMaxFiles, " files");
  }
  for (const auto& sibling : *siblings) {
    if (!sibling.is_object() || !sibling.contains("rfilename") ||
        !sibling["rfilename"].is_string()) {
      fail(ErrorCode::kParse, url, ": every entry of 'siblings' needs a string 'rfilename'");
    }
    const std::string name = sibling["rfilename"].get<std::string>();
    if (!is_safe_repo_path(name)) {
      fail(ErrorCode::kParse, url, ": refusing file name '", name, "' that leaves the snapshot");
    }
    revision.files.push_back(name);
  }
  return revision;
}

struct FileMetadata {
  std::string etag;
  uint64_t size = 0;    // 0: unknown
  bool sha256 = false;  // the ETag is the sha256 of the content: verify it
};

FileMetadata fetch_metadata(Context& ctx, const std::string& file_url, const std::string& path) {
  std::string url = file_url;
  HttpResult result;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    for (int attempt = 0; attempt < ctx.options.max_attempts; ++attempt) {
      if (attempt > 0) backoff(ctx, attempt - 1);
      result = perform_http(make_request(ctx, "HEAD", url));
      if (!worth_retrying(result)) break;
    }
    if (result.failure != TransportFailure::kNone || result.response.status >= 500) {
      fail_transport(ctx, result, "'" + path + "'");
    }
    const int status = result.response.status;
    const std::string location = result.response.header("location");
    // Like huggingface_hub: follow the Hub's own relative redirects (renamed repositories) but
    // not the redirect of a large file to its CDN; its headers are what we need.
    if (status >= 300 && status < 400 && !location.empty() && location.front() == '/') {
      url = resolve_url(url, location);
      continue;
    }
    break;
  }
  const HttpResponse& response = result.response;
  if (response.status < 200 || response.status >= 400) {
    fail_status(ctx, response, "file '" + path + "'");
  }
  FileMetadata metadata;
  const std::string linked_etag = response.header("x-linked-etag");
  metadata.etag = normalize_etag(linked_etag.empty() ? response.header("etag") : linked_etag);
  if (!is_safe_etag(metadata.etag)) {
    fail(ErrorCode::kParse, "the Hub sent no usable ETag for '", path, "' of ", ctx.repo_id);
  }
  // An LFS file's ETag is the sha256 of its content. The Hub names it in X-Linked-Etag on the
  // redirect to the CDN, but a mirror may serve the file directly with only ETag: a 64-hex ETag
  // is checked either way (a git blob's ETag is a 40-hex sha1, never mistaken for one).
  metadata.sha256 = is_sha256_hex(metadata.etag);
  std::string size = response.header("x-linked-size");
  if (size.empty() && response.status < 300) size = response.header("content-length");
  if (!size.empty()) metadata.size = std::strtoull(size.c_str(), nullptr, 10);
  return metadata;
}

uint64_t file_size_or_zero(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
}

void hash_existing(Sha256& hasher, int fd, uint64_t bytes) {
  std::vector<char> buffer(1 << 16);
  uint64_t offset = 0;
  while (offset < bytes) {
    const ssize_t got = pread(fd, buffer.data(), std::min<uint64_t>(buffer.size(), bytes - offset),
                              static_cast<off_t>(offset));
    if (got <= 0) fail(ErrorCode::kIo, "cannot reread a partial download: ", std::strerror(errno));
    hasher.update(buffer.data(), static_cast<size_t>(got));
    offset += static_cast<uint64_t>(got);
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Downloads into blobs/<etag>.incomplete (resuming what is there), verifies, renames to the blob.
void fetch_blob(Context& ctx, const std::string& file_url, const std::string& path,
                const FileMetadata& metadata, const std::string& blob) {
  const std::string incomplete = blob + ".incomplete";
  fs::create_directories(fs::path(blob).parent_path());
  Fd file;
  file.fd = open(incomplete.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (file.fd < 0) fail(ErrorCode::kIo, "cannot create ", incomplete, ": ", std::strerror(errno));
  Sha256 hasher;
  uint64_t written = 0;
  bool complete = false;
  HttpResult last;
  for (int attempt = 0; attempt < ctx.options.max_attempts && !complete; ++attempt) {
    if (attempt > 0) backoff(ctx, attempt - 1);
    written = file_size_or_zero(incomplete);
    if (metadata.size > 0 && written > metadata.size) {
      if (ftruncate(file.fd, 0) != 0) fail(ErrorCode::kIo, "cannot truncate ", incomplete);
      written = 0;
    }
    hasher = Sha256();
    hash_existing(hasher, file.fd, written);
    if (metadata.size > 0 && written == metadata.size) {
      complete = true;
      break;
    }
    int write_errno = 0;
    bool first_chunk = true;
    const auto sink = [&](const HttpResponse& response, const char* data, size_t size) {
      if (response.status != 200 && response.status != 206) return true;  // error page: ignore
      const bool restart = first_chunk && response.status == 200 && written > 0;
      first_chunk = false;
      if (restart) {
        // The server ignored our Range: start over.
        if (ftruncate(file.fd, 0) != 0) {
          write_errno = errno;
          return false;
        }
        written = 0;
        hasher = Sha256();
      }
      for (size_t done = 0; done < size;) {
        const ssize_t put = pwrite(file.fd, data + done, size - done, static_cast<off_t>(written));
        if (put < 0) {
          if (errno == EINTR) continue;
          write_errno = errno;
          return false;
        }
        done += static_cast<size_t>(put);
        written += static_cast<uint64_t>(put);
      }
      hasher.update(data, size);
      ctx.report({path, written, metadata.size, false});
      return true;
    };
    std::string url = file_url;
    for (int hop = 0; hop <= kMaxRedirects; ++hop) {
      HttpRequest request = make_request(ctx, "GET", url);
      first_chunk = true;
      if (written > 0) request.headers.push_back("Range: bytes=" + std::to_string(written) + "-");
      last = perform_http(request, sink);
      const int status = last.response.status;
      const std::string location = last.response.header("location");
      if (last.failure == TransportFailure::kNone && status >= 300 && status < 400 &&
          !location.empty()) {
        url = resolve_url(url, location);
        continue;
      }
      break;
    }
    if (last.failure == TransportFailure::kSinkRefused) {
      if (write_errno == ENOSPC || write_errno == EDQUOT) {
        fail(ErrorCode::kIo, "disk full while downloading '", path, "' of ", ctx.repo_id, " into ",
             ctx.settings.cache_root, " (", human_bytes(static_cast<double>(written)), " of ",
             human_bytes(static_cast<double>(metadata.size)),
             " kept; free space and run again to resume)");
      }
      fail(ErrorCode::kIo, "cannot write ", incomplete, ": ",
           std::strerror(write_errno ? write_errno : EIO));
    }
    if (worth_retrying(last)) continue;
    if (last.failure != TransportFailure::kNone) fail_transport(ctx, last, "'" + path + "'");
    const int status = last.response.status;
    if (status == 416) {  // our partial file does not fit the server's copy: start over
      if (ftruncate(file.fd, 0) != 0) fail(ErrorCode::kIo, "cannot truncate ", incomplete);
      continue;
    }
    if (status != 200 && status != 206) fail_status(ctx, last.response, "file '" + path + "'");
    complete = metadata.size == 0 || written == metadata.size;
    if (!complete && written > metadata.size) break;
  }
  if (!complete) {
    if (metadata.size > 0 && written > metadata.size) {
      unlink(incomplete.c_str());
      fail(ErrorCode::kParse, "'", path, "' of ", ctx.repo_id, " has ", written,
           " bytes, the Hub announced ", metadata.size, "; the download was removed");
    }
    fail_transport(ctx, last, "'" + path + "'");
  }
  if (metadata.sha256) {
    const std::string actual = hasher.hex_digest();
    if (actual != metadata.etag) {
      unlink(incomplete.c_str());
      fail(ErrorCode::kParse, "checksum mismatch for '", path, "' of ", ctx.repo_id,
           ": expected sha256 ", metadata.etag, ", got ", actual,
           "; the download was discarded, run again");
    }
  }
  if (fsync(file.fd) != 0)
    fail(ErrorCode::kIo, "cannot flush ", incomplete, ": ", std::strerror(errno));
  if (std::rename(incomplete.c_str(), blob.c_str()) != 0) {
    fail(ErrorCode::kIo, "cannot move ", incomplete, " into place: ", std::strerror(errno));
  }
  ctx.report({path, written, metadata.size, true});
}

void download_file(Context& ctx, const std::string& sha, const std::string& path,
                   const fs::path& snapshot) {
  if (fs::exists(snapshot / path)) return;  // a commit's files never change
  const std::string file_url =
      ctx.settings.endpoint + "/" + ctx.repo_id + "/resolve/" + sha + "/" + url_encode(path, true);
  const FileMetadata metadata = fetch_metadata(ctx, file_url, path);
  const std::string blob = (ctx.storage / "blobs" / metadata.etag).string();
  if (!fs::exists(blob)) {
    FileLock lock((fs::path(ctx.settings.cache_root) / ".locks" / repo_folder_name(ctx.repo_id) /
                   (metadata.etag + ".lock"))
                      .string());
    if (!fs::exists(blob)) fetch_blob(ctx, file_url, path, metadata, blob);
  }
  link_into_snapshot(snapshot.string(), path, blob);
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void extract_zips(Context& ctx, const fs::path& snapshot, const std::vector<std::string>& files) {
  for (const auto& path : files) {
    if (!ends_with(path, ".mlmodelc.zip")) continue;
    const fs::path zip = snapshot / path;
    const fs::path folder = snapshot / path.substr(0, path.size() - 4);
    // The folder appears by one rename when extraction is complete, so it is its own marker.
    if (fs::exists(folder) || !fs::exists(zip)) continue;
    FileLock lock((fs::path(ctx.settings.cache_root) / ".locks" / repo_folder_name(ctx.repo_id) /
                   "extract.lock")
                      .string());
    if (!fs::exists(folder)) extract_model_zip(zip.string(), folder.string());
  }
}

std::vector<std::string> files_in_snapshot(const fs::path& snapshot) {
  std::vector<std::string> files;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(snapshot, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    files.push_back(it->path().lexically_relative(snapshot).string());
    if (files.size() > kMaxFiles) break;
  }
  return files;
}

std::string offline_snapshot(Context& ctx) {
  const std::string& revision = ctx.options.revision;
  std::string sha = revision;
  if (!is_commit_sha(revision)) {
    const auto ref = read_small_file((ctx.storage / "refs" / revision).string());
    sha = ref ? normalize_etag(*ref) : std::string();
  }
  const fs::path snapshot = ctx.storage / "snapshots" / sha;
  if (sha.empty() || !is_commit_sha(sha) || !fs::is_directory(snapshot)) {
    fail(ErrorCode::kNotFound, "offline mode (HF_HUB_OFFLINE): ", ctx.repo_id, " at revision '",
         revision, "' is not in the cache ", ctx.settings.cache_root,
         "; download it once with network access");
  }
  // Only a complete snapshot counts: one an interrupted or failed download left half-made is
  // not the repository.
  const std::vector<std::string> missing = missing_files(ctx, sha, snapshot);
  if (!missing.empty()) {
    std::string names;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) {
      names += (i ? ", '" : "'") + missing[i] + "'";
    }
    fail(ErrorCode::kNotFound, "offline mode (HF_HUB_OFFLINE): the cached snapshot of ",
         ctx.repo_id, " at revision '", revision, "' is incomplete (", missing.size(),
         " file(s) missing: ", names, missing.size() > 5 ? ", ..." : "",
         "): an earlier download did not finish; run again with network access");
  }
  std::vector<std::string> files = files_in_snapshot(snapshot);
  std::erase_if(files,
                [&](const std::string& f) { return !matches_any(f, ctx.options.allow_patterns); });
  extract_zips(ctx, snapshot, files);
  return snapshot.string();
}

}  // namespace

std::string snapshot_download(const std::string& repo_id, const DownloadOptions& options) {
  if (!is_repo_id(repo_id) || repo_id.find('@') != std::string::npos) {
    fail(ErrorCode::kInvalidArgument, "'", repo_id, "' is not a Hugging Face repo id (org/name)");
  }
  if (!is_safe_repo_path(options.revision)) {
    fail(ErrorCode::kInvalidArgument, "'", options.revision, "' is not a valid revision");
  }
  if (options.max_attempts < 1) {
    fail(ErrorCode::kInvalidArgument, "max_attempts must be at least 1");
  }
  Context ctx{resolve_settings(options), options, repo_id, {}, {}};
  ctx.storage = fs::path(ctx.settings.cache_root) / repo_folder_name(repo_id);
  try {
    if (ctx.settings.offline) return offline_snapshot(ctx);
    const RevisionInfo info = fetch_revision_info(ctx);
    const fs::path snapshot = ctx.storage / "snapshots" / info.sha;
    std::vector<std::string> selected;
    for (const auto& file : info.files) {
      if (matches_any(file, options.allow_patterns)) selected.push_back(file);
    }
    record_file_list(ctx, info.sha, info.files);
    fs::create_directories(snapshot);
    for (const auto& file : selected) download_file(ctx, info.sha, file, snapshot);
    if (options.revision != info.sha) {
      const std::string ref = (ctx.storage / "refs" / options.revision).string();
      if (read_small_file(ref) != info.sha) write_file_atomically(ref, info.sha);
    }
    extract_zips(ctx, snapshot, selected);
    return snapshot.string();
  } catch (const fs::filesystem_error& e) {
    fail(ErrorCode::kIo, "cache ", ctx.settings.cache_root, ": ", e.what());
  }
}

}  // namespace coreml::hub
