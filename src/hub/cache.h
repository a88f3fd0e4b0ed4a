// The huggingface_hub cache layout and the settings that locate it, plus the file-system steps
// (atomic writes, relative symlinks, flock) that keep it consistent across processes.
#pragma once

#include <optional>
#include <string>

#include "coreml/hub.h"

namespace coreml::hub {

// Options merged with HF_ENDPOINT, HF_HUB_CACHE/HF_HOME, HF_TOKEN/token file, HF_HUB_OFFLINE.
struct HubSettings {
  std::string endpoint;
  std::string cache_root;
  std::string token;  // empty: send no Authorization
  bool offline = false;
};
HubSettings resolve_settings(const DownloadOptions& options);

// "org/name" -> "models--org--name".
std::string repo_folder_name(const std::string& repo_id);

// Strips W/ and quotes from an ETag header value, as huggingface_hub does.
std::string normalize_etag(const std::string& etag);

// True for a repository file path that stays inside the snapshot: relative, no "." or ".."
// components, no empty components, no backslashes or NUL.
bool is_safe_repo_path(const std::string& path);

bool is_commit_sha(const std::string& text);

// Writes `content` to `path` through a temporary file and rename.
void write_file_atomically(const std::string& path, const std::string& content);

// Reads a small text file (a ref, at most 4 KiB, a regular file); nullopt when it does not
// exist, a coreml::Error when it is something else (a FIFO, a folder, too large).
std::optional<std::string> read_small_file(const std::string& path);

// Makes snapshot_dir/repo_path a relative symlink to blob_path (replacing what was there).
void link_into_snapshot(const std::string& snapshot_dir, const std::string& repo_path,
                        const std::string& blob_path);

// An exclusive flock on a lock file, held for the object's lifetime.
class FileLock {
 public:
  explicit FileLock(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace coreml::hub
